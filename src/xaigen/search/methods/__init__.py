"""The search methods, one module each; every module here registers itself on import
(see :mod:`xaigen.search.registry`)."""
