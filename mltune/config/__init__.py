"""Configuration: the recipe schema, overrides and validation, and redaction of secrets."""
