"""Durable Functions orchestrators, activities and the durable HTTP starter."""
