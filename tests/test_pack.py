"""JPEG-packed .npz: python -m icarl.tools.pack writes it, --dataset npz reads it back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from icarl.data import DataError, Dataset, Split, load_dataset
from icarl.tools.pack import main, mean_abs_error, pack_arrays


def smooth_images(n: int, channels: int, size: int, seed: int) -> torch.Tensor:
    """Low-frequency random images, each channel different (a channel mix-up shows)."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, channels, size, size), dtype=np.uint8)
    for i in range(n):
        for c in range(channels):
            fx, fy, phase = g.uniform(0.5, 2.0), g.uniform(0.5, 2.0), g.uniform(0, 6.3)
            wave = np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)
            out[i, c] = np.clip(128 + 100 * wave + 40 * (c - 1), 0, 255).astype(np.uint8)
    return torch.from_numpy(out)


def toy(channels: int = 3, size: int = 16, n_train: int = 30, n_test: int = 9) -> Dataset:
    return Dataset(
        "toy",
        Split(smooth_images(n_train, channels, size, 0), torch.arange(n_train) % 3),
        Split(smooth_images(n_test, channels, size, 1), torch.arange(n_test) % 3),
        ("cat", "dog", "bird"),
    )


def write(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, **arrays)
    return path


# Measured at quality 90, 4:4:4: mean abs error 3.2 (these RGB 16x16), 1.6 (grey), max 23;
# a decoder giving zeros is off by 90-128, transposed images by 53, swapped channels by 70.
@pytest.mark.parametrize("channels", [1, 3])
def test_round_trip_keeps_shapes_labels_names_and_pixels(tmp_path: Path, channels: int) -> None:
    data = toy(channels)
    back = load_dataset("npz", write(tmp_path / "p.npz", pack_arrays(data, 90)))
    assert back.train.x.shape == data.train.x.shape and back.test.x.shape == data.test.x.shape
    assert back.train.x.dtype == torch.uint8
    assert torch.equal(back.train.y, data.train.y) and torch.equal(back.test.y, data.test.y)
    assert back.class_names == data.class_names
    for a, b in ((data.train.x, back.train.x), (data.test.x, back.test.x)):
        assert 0 < mean_abs_error(a, b) < 5.0  # lossy, but close
        assert (a.int() - b.int()).abs().max() < 40


def test_lower_quality_is_smaller_and_lossier(tmp_path: Path) -> None:
    data = toy(3, size=32)
    hi = pack_arrays(data, 95)
    lo = pack_arrays(data, 50)
    assert lo["x_train_jpeg"].size < hi["x_train_jpeg"].size
    err = [
        mean_abs_error(data.train.x, load_dataset("npz", write(tmp_path / f"{q}.npz", a)).train.x)
        for q, a in (("hi", hi), ("lo", lo))
    ]
    assert err[0] < err[1]


def test_cli_packs_digits_greyscale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "digits.npz"
    assert main([str(out), "--dataset", "digits"]) == 0
    printed = capsys.readouterr().out
    assert "1797 images" in printed and "MiB" in printed and "mean abs pixel error" in printed
    src, back = load_dataset("digits"), load_dataset("npz", out)
    assert back.train.x.shape == src.train.x.shape == (1433, 1, 8, 8)
    assert torch.equal(back.train.y, src.train.y) and back.class_names == src.class_names
    assert 0 < mean_abs_error(src.train.x, back.train.x) < 3.0
    with np.load(out, allow_pickle=False) as f:
        assert f["x_train_offsets"].dtype == np.int64 and f["x_train_offsets"][0] == 0


def test_cli_packs_a_plain_npz_and_resizes(tmp_path: Path) -> None:
    data = toy(3, size=32)
    plain = {"x": data.train.x, "y": data.train.y, "x_test": data.test.x, "y_test": data.test.y}
    raw = write(tmp_path / "raw.npz", {k: v.numpy() for k, v in plain.items()})
    out = tmp_path / "packed.npz"
    assert main([str(out), "--dataset", "npz", "--data", str(raw), "--image-size", "16"]) == 0
    assert load_dataset("npz", out).train.x.shape == (30, 3, 16, 16)


def test_cli_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.npz"
    out.write_bytes(b"keep me")
    assert main([str(out), "--dataset", "digits"]) == 2
    err = capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert "exists" in err and "--force" in err and err.count("\n") == 1
    assert main([str(out), "--dataset", "digits", "--force"]) == 0
    assert len(load_dataset("npz", out).train) == 1433


def test_corrupt_jpeg_names_split_and_index(tmp_path: Path) -> None:
    arrays = pack_arrays(toy(), 90)
    off = arrays["x_test_offsets"]
    arrays["x_test_jpeg"][off[4] : off[5]] = 0  # image 4 of test: zeros, no JPEG marker
    with pytest.raises(DataError, match=r"test image 4 is not a readable JPEG.*icarl\.tools\.pack"):
        load_dataset("npz", write(tmp_path / "c.npz", arrays))


def test_truncated_jpeg_names_split_and_index(tmp_path: Path) -> None:
    arrays = pack_arrays(toy(), 90)
    data, off = arrays["x_train_jpeg"], arrays["x_train_offsets"]
    keep = np.ones(data.size, dtype=bool)
    keep[off[7] + 200 : off[8]] = False  # image 7 loses its tail
    arrays["x_train_jpeg"] = data[keep]
    arrays["x_train_offsets"] = np.concatenate([off[:8], off[8:] - (~keep).sum()])
    with pytest.raises(DataError, match="train image 7 is not a readable JPEG"):
        load_dataset("npz", write(tmp_path / "t.npz", arrays))


def test_decompression_bomb_header_is_a_data_error(tmp_path: Path) -> None:
    """A JPEG whose frame header claims 30000x30000 pixels: refused, not decoded, not a traceback."""
    arrays = pack_arrays(toy(), 90)
    data, off = arrays["x_test_jpeg"], arrays["x_test_offsets"]
    one = data[off[2] : off[3]].tobytes()
    sof = next(one.find(m) for m in (b"\xff\xc0", b"\xff\xc1", b"\xff\xc2") if one.find(m) >= 0)
    big = (30000).to_bytes(2, "big")
    patched = one[: sof + 5] + big + big + one[sof + 9 :]  # marker, length, precision, height, width
    arrays["x_test_jpeg"] = np.concatenate([data[: off[2]], np.frombuffer(patched, np.uint8), data[off[3] :]])
    with pytest.raises(
        DataError, match="test image 2: an image of 900000000 pixels, above the limit ICARL_MAX_PIXELS"
    ):
        load_dataset("npz", write(tmp_path / "bomb.npz", arrays))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o[:-1], "has 30 entries but y_train has 30 labels; expected 31"),
        (lambda o: o + 1, "offsets must start at 0 and end at the byte count"),
        (lambda o: np.concatenate([o[:-1], [o[-1] + 5]]), "offsets must start at 0"),
        (lambda o: np.where(np.arange(len(o)) == 3, o[5], o), "decreases at image 3 of train"),
        (lambda o: o.astype(np.float64), "expected 1-D integers"),
    ],
)
def test_bad_offsets_are_one_clear_error(tmp_path: Path, change, message: str) -> None:
    arrays = pack_arrays(toy(), 90)
    arrays["x_train_offsets"] = change(arrays["x_train_offsets"])
    with pytest.raises(DataError, match=message):
        load_dataset("npz", write(tmp_path / "o.npz", arrays))


def test_missing_key_is_named(tmp_path: Path) -> None:
    arrays = pack_arrays(toy(), 90)
    del arrays["y_test"]
    with pytest.raises(DataError, match="JPEG-packed but has no y_test"):
        load_dataset("npz", write(tmp_path / "m.npz", arrays))


def test_mixed_sizes_and_modes_are_refused(tmp_path: Path) -> None:
    big, small, grey = pack_arrays(toy(3, 16), 90), pack_arrays(toy(3, 8), 90), pack_arrays(toy(1, 16), 90)

    def splice(other: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        a = dict(big)
        k = int(big["x_test_offsets"][2])  # test images 0, 1 from big, then the other's
        a["x_test_jpeg"] = np.concatenate([big["x_test_jpeg"][:k], other["x_test_jpeg"]])
        a["x_test_offsets"] = np.concatenate([big["x_test_offsets"][:2], other["x_test_offsets"] + k])
        a["y_test"] = np.concatenate([big["y_test"][:2], other["y_test"]])
        return a

    with pytest.raises(DataError, match="test image 2 decodes to 8x8 RGB but image 0 to 16x16 RGB"):
        load_dataset("npz", write(tmp_path / "s.npz", splice(small)))
    with pytest.raises(DataError, match="test image 2 decodes to 16x16 greyscale but image 0 to 16x16 RGB"):
        load_dataset("npz", write(tmp_path / "g.npz", splice(grey)))
    grey_test = {k: v for k, v in grey.items() if "test" in k}
    with pytest.raises(DataError, match=r"train images are .* but test images"):
        load_dataset("npz", write(tmp_path / "tt.npz", {**big, **grey_test}))


def test_plain_and_packed_arrays_together_are_refused(tmp_path: Path) -> None:
    arrays = pack_arrays(toy(), 90)
    arrays["x"] = np.zeros((2, 4, 4), dtype=np.uint8)
    with pytest.raises(DataError, match="both plain"):
        load_dataset("npz", write(tmp_path / "b.npz", arrays))


def test_decoding_in_threads_equals_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import icarl.data.formats.packed as packed

    monkeypatch.setattr(packed, "CHUNK", 4)  # several chunks even for a few images
    path = write(tmp_path / "w.npz", pack_arrays(toy(), 90))
    one, many = load_dataset("npz", path, workers=1), load_dataset("npz", path, workers=3)
    assert torch.equal(one.train.x, many.train.x) and torch.equal(one.test.x, many.test.x)
