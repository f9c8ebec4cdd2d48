"""Always-on containers (Azure Container Apps) that reuse `shared/`."""
