"""Train an MLP on the bundled digits, export it as a C library, and classify the test set from C.

Writes into ``OUT`` (default ``build/export_c``):

- ``libdigits_mlp.so`` / ``.a``, ``digits_mlp.h``, ``digits_mlp.safetensors``: ``graphc.export``;
- ``test_images.f32`` / ``test_labels.i32``: the 355 test digits as raw little-endian arrays;
- ``predict``: ``predict.c`` (next to this script) built against the library.

``predict`` is plain C: it creates the model, loads the weights, runs ``digits_mlp_forward``
over the test images in batches of ``BATCH`` and prints the accuracy, which must equal
Python's. Build it by hand with::

    cc -O2 -I OUT -o OUT/predict predict.c -L OUT -ldigits_mlp -Wl,-rpath,OUT -lm

Run: python examples/export_c/export_digits.py [OUT]
"""

import sys
from pathlib import Path

import graphc as torch
from graphc import nn
from graphc.c_program import build_c_program, run_program
from graphc.datasets import digits
from graphc.utils.data import DataLoader, TensorDataset

HERE = Path(__file__).resolve().parent
NAME = "digits_mlp"
BATCH = 5                      # the exported forward's batch; 355 test digits = 71 batches


def train(epochs=5, seed=0):
    torch.manual_seed(seed)
    x, y = digits(train=True).tensors()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    @torch.compile
    def train_step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    for _ in range(epochs):
        for xb, yb in loader:
            train_step(xb, yb)
    return model.eval()


def main(out="build/export_c", epochs=5):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = train(epochs)
    x, y = digits(train=False).tensors()
    with torch.no_grad():
        python_accuracy = (model(x).argmax(1) == y).float().mean().item()
    forward = torch.compile(model)
    forward(x[:BATCH])                           # compiled for the exported batch shape
    torch.export({"forward": forward}, out, name=NAME, example_inputs={"forward": (x[:BATCH],)})
    x.numpy().astype("<f4").tofile(out / "test_images.f32")
    y.numpy().astype("<i4").tofile(out / "test_labels.i32")
    exe = build_c_program(HERE / "predict.c", out, NAME, out / "predict")
    report = run_program(exe, f"{NAME}.safetensors", "test_images.f32", "test_labels.i32", str(len(y)), cwd=out)
    print(report.strip())
    c_correct = int(report.split("correct ")[1].split()[0])
    print(f"python accuracy {python_accuracy:.1%}, C accuracy {c_correct / len(y):.1%}")
    return python_accuracy, c_correct / len(y)


if __name__ == "__main__":
    main(*sys.argv[1:2])
