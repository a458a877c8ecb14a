"""taylorprune export / benchmark end to end, on a saved pruned network."""

import json

import pytest
import torch
from PIL import Image

from taylorprune.cli import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A train/ test/ image folder of 32x32 PNGs, enough for --verify-data."""
    root = tmp_path_factory.mktemp("images")
    g = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        for i in range(6):
            path = root / split / f"c{i % 2}" / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            img = torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8, generator=g)
            Image.fromarray(img.numpy()).save(path)
    return root


def test_export_an_artifact_with_verification(pruned, folder, tmp_path, capsys):
    out = tmp_path / "net.onnx"
    assert main(["export", "--model", str(pruned[1]), "--onnx", str(out), "--verify-data", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert out.is_file() and lines[0].startswith(f"wrote {out}")
    assert lines[1].startswith("8 random inputs:") and lines[2].startswith("6 test images:")
    assert all(line.endswith(": ok") for line in lines[1:])



def test_export_to_onnx_and_pt2_at_once(pruned, tmp_path, capsys):
    onnx, pt2 = tmp_path / "net.onnx", tmp_path / "net.pt2"
    assert main(["export", "--model", str(pruned[1]), "--onnx", str(onnx), "--pt2", str(pt2)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"wrote {onnx}") and "onnxruntime - pytorch" in lines[1]
    assert lines[2].startswith(f"wrote {pt2}") and "torch.export - pytorch" in lines[3]
    assert lines[1].endswith(": ok") and lines[3].endswith(": ok")
    program = torch.export.load(str(pt2)).module()
    assert program(torch.rand(3, 3, 32, 32)).shape == (3, 10)


def test_export_without_a_target_is_one_error_line(pruned, capsys):
    assert main(["export", "--model", str(pruned[1])]) == 2
    err = capsys.readouterr().err
    assert err == "error: nothing to export: give --onnx FILE, --pt2 FILE, or both\n"

def test_export_of_a_damaged_artifact_is_one_error_line(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04not safetensors")
    assert main(["export", "--model", str(bad), "--onnx", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_benchmark_both_runtimes_with_json(pruned, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["benchmark", "--model", str(pruned[1]), "--batch-sizes", "1,3", "--repeats", "2",
                 "--warmup", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "onnxruntime" in printed and "pytorch" in printed
    data = json.loads(out.read_text())
    assert [(t["runtime"], t["batch"]) for t in data["model"]["timings"]] == [
        ("pytorch", 1), ("pytorch", 3), ("onnxruntime", 1), ("onnxruntime", 3)]
    assert data["arguments"]["model"] == str(pruned[1]) and data["baseline"] is None


def test_benchmark_against_a_baseline_spec(pruned, capsys):
    assert main(["benchmark", "--model", str(pruned[1]), "--baseline", "resnet20", "--runtimes", "pytorch",
                 "--batch-sizes", "2", "--repeats", "1", "--warmup", "0"]) == 0
    printed = capsys.readouterr().out
    assert "baseline: resnet20" in printed and "MAC ratio" in printed


def test_benchmark_rejects_an_unknown_runtime(pruned, capsys):
    assert main(["benchmark", "--model", str(pruned[1]), "--runtimes", "tensorrt"]) == 2
    assert "unknown runtime tensorrt" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where no GPU is visible")
def test_benchmark_cuda_runtime_without_a_gpu_is_one_line(pruned, capsys):
    assert main(["benchmark", "--model", str(pruned[1]), "--runtimes", "pytorch-cuda"]) == 2
    assert "need a CUDA GPU" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_benchmark_on_the_gpu(pruned, capsys):
    assert main(["benchmark", "--model", str(pruned[1]), "--baseline", "resnet20", "--runtimes",
                 "pytorch-cuda,pytorch-cuda-bf16", "--batch-sizes", "1,128", "--repeats", "3"]) == 0
    assert "pytorch-cuda-bf16" in capsys.readouterr().out
