"""Conversations: contacts talking to agents over WhatsApp and web chat, with a human inbox."""
