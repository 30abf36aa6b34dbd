"""Build examples/tiny-cnn.onnx: a small image classifier with random weights, small enough to commit.

Usage: /usr/bin/python3 scripts/make-example.py

Two conv-batchnorm-relu blocks, max pooling, global average pooling and a linear layer, for
1x3x32x32 images and 10 classes, exported with opset 17. The seed is fixed, so the file is
reproducible for a given torch version.
"""

import sys
from pathlib import Path

import torch
from torch import nn

OPSET = 17
SEED = 0
OUTPUT = Path(__file__).resolve().parent.parent / 'examples' / 'tiny-cnn.onnx'


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


def tiny_cnn() -> nn.Sequential:
    model = nn.Sequential(
        conv_block(3, 16),
        nn.MaxPool2d(2),
        conv_block(16, 32),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
    # Fresh batch-norm statistics are an identity; give them values a trained model could have.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features) + 0.5)
    return model.eval()


def main() -> int:
    torch.manual_seed(SEED)
    model = tiny_cnn()
    with torch.no_grad():
        torch.onnx.export(
            model,
            (torch.randn(1, 3, 32, 32),),
            str(OUTPUT),
            opset_version=OPSET,
            input_names=['image'],
            output_names=['logits'],
        )
    print(f'wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
