"""Fixtures shared across test folders (helpers without fixtures live in tests/fixtures.py)."""

import pytest
from PIL import Image

from tests.fixtures import colour_blobs


@pytest.fixture(scope="session")
def folder(tmp_path_factory):
    """train/ and test/ image folders of the colour-blob classes, 8x8 PNG."""
    root = tmp_path_factory.mktemp("blobs")
    for split, n, seed in (("train", 240, 1), ("test", 60, 2)):
        data = colour_blobs(n, size=8, seed=seed)
        for i, (img, label) in enumerate(zip(data.images, data.labels, strict=True)):
            path = root / split / data.classes[label] / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(path)
    return root
