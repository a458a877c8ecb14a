import torch

from taylorprune.train.augment import random_crop_flip, to_float


def test_crop_is_a_shift_with_zero_fill_and_flip_mirrors():
    n = 64
    images = torch.arange(1, 10 * 10 + 1, dtype=torch.uint8).view(1, 1, 10, 10).repeat(n, 3, 1, 1)
    out = random_crop_flip(images, pad=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images[0, 0], (2, 2, 2, 2))
    windows = {(dy, dx): padded[dy:dy + 10, dx:dx + 10] for dy in range(5) for dx in range(5)}
    kinds = set()
    for img in out[:, 0]:
        match = [(k, flip) for k, w in windows.items() for flip in (False, True)
                 if torch.equal(img, w.flip(1) if flip else w)]
        assert match, "every output must be a shifted (and maybe mirrored) copy"
        kinds.add(match[0])
    assert len(kinds) > 10  # shifts and flips vary across the batch
    assert torch.equal(out[:, 0], out[:, 1])  # channels move together


def test_same_generator_seed_same_batch():
    images = torch.randint(0, 255, (8, 3, 6, 6), dtype=torch.uint8)
    a = random_crop_flip(images, generator=torch.Generator().manual_seed(3))
    b = random_crop_flip(images, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_to_float_scales_uint8_only():
    assert to_float(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)).max().item() == 1.0
    assert to_float(torch.full((1, 3, 2, 2), 0.5)).max().item() == 0.5
