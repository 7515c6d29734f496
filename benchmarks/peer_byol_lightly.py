"""The PyTorch peer: a plain BYOL training step built from lightly's modules.

Runs inside ``benchmarks/.peer-venv`` (torch 2.14.1, torchvision 0.29.1,
lightly), started by ``benchmarks/throughput.py`` with a JSON spec as its only
argument; prints ``RESULT {json}``. The work matches SemPPL's benchmarked
step: torchvision ResNet-18 with the CIFAR stem (3x3 conv stride 1, no
max-pool), lightly's BYOLProjectionHead / BYOLPredictionHead (512 -> 4096 ->
256, 256 -> 4096 -> 256), a momentum target (lightly's deactivate_requires_grad
/ update_momentum, tau 0.99), the symmetric negative-cosine loss over two
views, SGD with momentum; synthetic random images.

Flags in the spec: ``channels_last`` puts model and inputs in
``torch.channels_last`` memory format; ``bf16`` wraps the forward passes and
the loss in ``torch.autocast("cpu", dtype=torch.bfloat16)`` (weights,
gradients and the optimizer stay float32, as autocast does).
"""

import contextlib

import copy
import json
import resource
import sys
import time

import torch
import torchvision
from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import BYOLPredictionHead
from lightly.models.modules import BYOLProjectionHead
from lightly.models.utils import deactivate_requires_grad
from lightly.models.utils import update_momentum


def cifar_resnet18():
    net = torchvision.models.resnet18()
    net.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = torch.nn.Identity()
    net.fc = torch.nn.Identity()
    return net


class BYOL(torch.nn.Module):
    def __init__(self, hidden=4096, out=256):
        super().__init__()
        self.backbone = cifar_resnet18()
        self.projection_head = BYOLProjectionHead(512, hidden, out)
        self.prediction_head = BYOLPredictionHead(out, hidden, out)
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_head_momentum = copy.deepcopy(self.projection_head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_head_momentum)

    def forward(self, x):
        return self.prediction_head(self.projection_head(self.backbone(x).flatten(start_dim=1)))

    def forward_momentum(self, x):
        return self.projection_head_momentum(self.backbone_momentum(x).flatten(start_dim=1)).detach()


def main(spec):
    torch.manual_seed(0)
    flags = spec.get("flags", [])
    model = BYOL()
    criterion = NegativeCosineSimilarity()
    bs, size = spec["batch_size"], spec["image_size"]
    x0 = torch.rand(bs, 3, size, size)
    x1 = torch.rand(bs, 3, size, size)
    if "channels_last" in flags:
        model = model.to(memory_format=torch.channels_last)
        x0 = x0.contiguous(memory_format=torch.channels_last)
        x1 = x1.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def precision():
        if "bf16" in flags:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    model.train()

    def step():
        update_momentum(model.backbone, model.backbone_momentum, m=0.99)
        update_momentum(model.projection_head, model.projection_head_momentum, m=0.99)
        with precision():
            p0, p1 = model(x0), model(x1)
            z0, z1 = model.forward_momentum(x0), model.forward_momentum(x1)
            loss = 0.5 * (criterion(p0, z1) + criterion(p1, z0))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return float(loss.detach())

    t0 = time.perf_counter()
    times, losses = [], []
    for _ in range(spec["warmup"] + spec["steps"]):
        losses.append(step())
        times.append(time.perf_counter())
    timed = times[spec["warmup"] - 1:]
    result = {
        "jit_compile": "eager",
        "policy": "autocast_bfloat16" if "bf16" in flags else "float32",
        "memory_format": "channels_last" if "channels_last" in flags else "contiguous",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "startup_and_warmup_s": timed[0] - t0,
        "step_times_s": [b - a for a, b in zip(timed, timed[1:])],
        "images_per_s": bs * spec["steps"] / (timed[-1] - timed[0]),
        "final_loss": losses[-1],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
