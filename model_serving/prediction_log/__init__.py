"""The prediction log and feedback tables, their migrations and the background writer."""
