"""The local Functions host: serves function_app.py like Core Tools (`python -m devhost`)."""
