"""yizhan outward interfaces: the FastAPI app (:mod:`api.app`) and the ``yizhan`` command line."""
