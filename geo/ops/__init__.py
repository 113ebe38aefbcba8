"""Station operations on the registry: visit logs (一站一码) and use, worker feedback, standards and
star ratings, and the 上图 audit against map providers' POIs. See ``docs/OPERATIONS.md``."""
