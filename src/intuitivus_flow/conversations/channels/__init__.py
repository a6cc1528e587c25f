"""Channel adapters: the wire formats of WhatsApp Cloud API (and web chat, which is ours)."""
