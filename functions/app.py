"""The app type `function_app.py` assembles: `func.FunctionApp` whose functions can be listed
more than once (the OpenAPI document, the local host and tests list them too)."""

from __future__ import annotations

import azure.functions as func


class FunctionApp(func.FunctionApp):
    """`func.FunctionApp` whose `get_functions()` may be called again.

    The SDK remembers the names its previous call returned and rejects them as duplicates
    on the next one (the Python worker calls it once per process). Each call here checks
    its own list only, so two functions with one name still fail indexing."""

    def get_functions(self) -> list[func.Function]:
        self.functions_bindings = None
        return super().get_functions()
