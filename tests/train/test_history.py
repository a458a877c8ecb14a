import pytest

from taylorprune.train.history import MIN_TIMED_SECONDS, images_per_second


@pytest.mark.parametrize(("images", "seconds", "rate"), [
    (100, 2.0, 50.0),
    (128, MIN_TIMED_SECONDS, 128 / MIN_TIMED_SECONDS),
    (2432, 0.0, None),  # nothing timed yet: the old progress bar showed 2432 / 1e-9
    (2432, 1e-9, None),  # a timer tick, not a measurement
    (0, 5.0, None),
])
def test_images_per_second(images, seconds, rate):
    assert images_per_second(images, seconds) == rate
