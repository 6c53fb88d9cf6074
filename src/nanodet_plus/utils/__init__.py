"""Small helpers with no model knowledge: run folders, logging, seeding."""
