"""The operations console: thin function-based views over services and selectors."""
