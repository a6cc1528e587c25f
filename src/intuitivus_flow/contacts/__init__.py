"""Contacts: the people a workspace talks to (CRUD, tags, opt-in) and audience segments."""
