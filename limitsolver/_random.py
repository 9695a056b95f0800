"""Explicit random number generation.

Every random draw in limitsolver goes through a :class:`numpy.random.Generator`
passed by the caller (or built from an integer seed the caller gives), so that
the same seed reproduces every number bit for bit on the same machine.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import ConfigError

SeedLike = int | np.random.Generator | np.random.SeedSequence


def as_generator(seed, name: str = "rng") -> np.random.Generator:
    """Return a Generator from an integer seed, a SeedSequence or a Generator.

    A Generator is returned as is (draws advance its state); ``None`` is refused
    because results must be reproducible from the call.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise ConfigError(f"`{name}` must be a non-negative integer seed, got {seed}.")
        return np.random.default_rng(int(seed))
    raise ConfigError(
        f"`{name}` must be an integer seed, a numpy.random.SeedSequence or a "
        f"numpy.random.Generator (got {type(seed).__name__}); pass e.g. `{name}=0`."
    )


def spawn_generators(seed, n: int, name: str = "rng") -> list[np.random.Generator]:
    """Return ``n`` independent Generators derived from one seed.

    Integer seeds and SeedSequences are spawned with :meth:`SeedSequence.spawn`,
    so child ``i`` is the same whatever ``n`` is; a Generator spawns children
    from its bit generator's seed sequence.
    """
    if isinstance(seed, np.random.Generator):
        return list(seed.spawn(n))
    if isinstance(seed, np.random.SeedSequence):
        ss = seed
    else:
        as_generator(seed, name)  # validates the seed
        ss = np.random.SeedSequence(int(seed))
    return [np.random.default_rng(child) for child in ss.spawn(n)]
