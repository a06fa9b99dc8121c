"""ImageFrame: the size the template gives an image (smart_resize within template.max_pixels)."""

from __future__ import annotations

import pytest

from src.datasets.image_frame import ImageFrame


@pytest.mark.parametrize("w,h,budget", [(320, 256, 65536), (256, 192, 65536), (640, 480, 65536), (250, 190, 65536),
                                        (4096, 64, 65536), (1000, 1000, 1048576), (2048, 1536, 1048576)])
def test_frame_stays_within_the_budget_aligned_and_close_in_aspect(w, h, budget):
    fw, fh = ImageFrame(32, 0, budget).size(w, h)
    assert fw * fh <= budget and fw % 32 == 0 and fh % 32 == 0 and fw >= 32 and fh >= 32
    if w * h > budget:  # never upscaled, and as large as flooring allows: one more multiple would not fit
        assert fw <= w and fh <= h
        assert (fw + 32) * (fh + 32) > budget
        assert abs(fw / fh - w / h) <= 32 * (w / h) / min(fw, fh) + 1e-9


def test_frame_keeps_aligned_sizes_within_the_budget():
    frame = ImageFrame(32, 0, 65536)
    assert frame.size(256, 192) == (256, 192) and frame.keeps(256, 192)
    assert frame.size(320, 256) == (256, 224)  # sqrt(81920 / 65536) = 1.118, then floored to the grid
    assert frame.size(250, 190) == (256, 192) and not frame.keeps(250, 190)  # nearest multiples
    assert ImageFrame(32, 65536, 1 << 40).size(64, 64) == (256, 256)  # below min_pixels: scaled up
    with pytest.raises(ValueError, match="aspect ratio must be smaller than 200"):
        frame.size(20000, 10)
