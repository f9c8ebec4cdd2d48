"""Thin trigger adapters: parse the trigger, call `shared/`, shape the response."""
