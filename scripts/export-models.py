"""Export real architectures with random weights to ONNX, with PyTorch's answers to check Heddle against.

Usage: /usr/bin/python3 scripts/export-models.py OUT_DIR [--force] [names...]

For each model this writes OUT_DIR/<name>/model.onnx (opset 17), the fixed seeded inputs as
OUT_DIR/<name>/inputs/<input name>.npy and PyTorch's outputs for them as
OUT_DIR/<name>/outputs/<output name>.npy, named as in the ONNX graph. Weights are random from a fixed
seed, never downloaded. A model whose folder already holds every file is skipped unless --force is
given. Adding a model is one entry in MODELS.
"""

import argparse
import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch
import torchvision
from torch import nn

OPSET = 17
SEED = 0


@dataclass
class ModelSpec:
    build: Callable[[], nn.Module]
    # Builds the example inputs, in the order forward() takes them, keyed by their ONNX names.
    make_inputs: Callable[[], dict[str, torch.Tensor]]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)


def randomize_normalization(model: nn.Module) -> nn.Module:
    """Fresh BatchNorm and LayerNorm layers are identities (mean 0, variance 1, scale 1, shift 0),
    which would let a kernel that ignores them pass; give them plausible non-trivial values."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            channels = module.num_features
            module.running_mean.copy_(torch.randn(channels) * 0.1)
            module.running_var.copy_(torch.rand(channels) + 0.5)
        if isinstance(module, (nn.BatchNorm2d, nn.LayerNorm)):
            module.weight.data.copy_(torch.rand_like(module.weight) + 0.5)
            module.bias.data.copy_(torch.randn_like(module.bias) * 0.1)
    return model


def image_input() -> dict[str, torch.Tensor]:
    return {'input': torch.randn(1, 3, 224, 224)}


class BertSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.head_width = width // heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.output = nn.Linear(width, width)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, sequence, _ = x.shape
        return x.view(batch, sequence, self.heads, self.head_width).transpose(1, 2)

    def forward(self, hidden: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        query = self.split_heads(self.query(hidden))
        key = self.split_heads(self.key(hidden))
        value = self.split_heads(self.value(hidden))
        scores = query @ key.transpose(-1, -2) / math.sqrt(self.head_width) + mask_bias
        context = torch.softmax(scores, dim=-1) @ value
        batch, _, sequence, _ = context.shape
        return self.output(context.transpose(1, 2).reshape(batch, sequence, -1))


class BertLayer(nn.Module):
    def __init__(self, width: int, heads: int, feed_forward: int):
        super().__init__()
        self.attention = BertSelfAttention(width, heads)
        self.attention_norm = nn.LayerNorm(width, eps=1e-12)
        self.feed_forward = nn.Sequential(nn.Linear(width, feed_forward), nn.GELU(), nn.Linear(feed_forward, width))
        self.output_norm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, hidden: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        hidden = self.attention_norm(hidden + self.attention(hidden, mask_bias))
        return self.output_norm(hidden + self.feed_forward(hidden))


class BertEncoder(nn.Module):
    """A BERT-base-shaped encoder, scaled down: post-norm layers, learned positions, tanh pooler."""

    def __init__(self, vocabulary=30522, width=256, layers=4, heads=4, feed_forward=1024, max_positions=512):
        super().__init__()
        self.token_embedding = nn.Embedding(vocabulary, width)
        self.position_embedding = nn.Embedding(max_positions, width)
        self.register_buffer('position_ids', torch.arange(max_positions).unsqueeze(0))
        self.embedding_norm = nn.LayerNorm(width, eps=1e-12)
        self.layers = nn.ModuleList(BertLayer(width, heads, feed_forward) for _ in range(layers))
        self.pooler = nn.Linear(width, width)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        positions = self.position_ids[:, : input_ids.shape[1]]
        hidden = self.embedding_norm(self.token_embedding(input_ids) + self.position_embedding(positions))
        # Padding positions get the most negative float added to their scores, as Hugging Face does.
        mask_bias = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            hidden = layer(hidden, mask_bias)
        return hidden, torch.tanh(self.pooler(hidden[:, 0]))


def bert_inputs() -> dict[str, torch.Tensor]:
    batch, sequence = 2, 128
    attention_mask = torch.ones(batch, sequence, dtype=torch.int64)
    # The second sentence is padded, so masking is exercised.
    attention_mask[1, 96:] = 0
    return {'input_ids': torch.randint(0, 30522, (batch, sequence)), 'attention_mask': attention_mask}


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, max_positions: int):
        super().__init__()
        self.heads = heads
        self.head_width = width // heads
        self.query_key_value = nn.Linear(width, 3 * width)
        self.output = nn.Linear(width, width)
        # A position may attend only to itself and earlier ones; the mask is sliced to the sequence.
        self.register_buffer('causal', torch.tril(torch.ones(max_positions, max_positions, dtype=torch.bool)))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, sequence, width = hidden.shape
        query, key, value = (
            part.view(batch, sequence, self.heads, self.head_width).transpose(1, 2)
            for part in self.query_key_value(hidden).split(width, dim=-1)
        )
        scores = query @ key.transpose(-1, -2) / math.sqrt(self.head_width)
        scores = scores.masked_fill(~self.causal[:sequence, :sequence], float('-inf'))
        context = torch.softmax(scores, dim=-1) @ value
        return self.output(context.transpose(1, 2).reshape(batch, sequence, width))


class GptBlock(nn.Module):
    def __init__(self, width: int, heads: int, feed_forward: int, max_positions: int):
        super().__init__()
        self.attention_norm = nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads, max_positions)
        self.feed_forward_norm = nn.LayerNorm(width)
        self.feed_forward = nn.Sequential(
            nn.Linear(width, feed_forward), nn.GELU(), nn.Linear(feed_forward, width)
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = hidden + self.attention(self.attention_norm(hidden))
        return hidden + self.feed_forward(self.feed_forward_norm(hidden))


class GptDecoder(nn.Module):
    """A GPT-2-shaped decoder, scaled down: pre-norm causal blocks, learned positions, and an LM head
    tied to the token embedding."""

    def __init__(
        self, vocabulary=50257, width=256, layers=4, heads=4, feed_forward=1024, max_positions=1024
    ):
        super().__init__()
        self.token_embedding = nn.Embedding(vocabulary, width)
        self.position_embedding = nn.Embedding(max_positions, width)
        self.blocks = nn.ModuleList(
            GptBlock(width, heads, feed_forward, max_positions) for _ in range(layers)
        )
        self.final_norm = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocabulary, bias=False)
        self.lm_head.weight = self.token_embedding.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        hidden = self.token_embedding(input_ids) + self.position_embedding(positions)
        for block in self.blocks:
            hidden = block(hidden)
        return self.lm_head(self.final_norm(hidden))


class LstmTagger(nn.Module):
    def __init__(self, features=64, hidden=128, layers=2, classes=10):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=layers)
        self.head = nn.Linear(hidden, classes)

    def forward(self, sequence: torch.Tensor):
        states, (last_hidden, last_cell) = self.lstm(sequence)
        return self.head(states), last_hidden, last_cell


MODELS: dict[str, ModelSpec] = {
    'resnet18': ModelSpec(
        build=lambda: randomize_normalization(torchvision.models.resnet18()),
        make_inputs=image_input,
        output_names=['logits'],
    ),
    'mobilenet_v2': ModelSpec(
        build=lambda: randomize_normalization(torchvision.models.mobilenet_v2()),
        make_inputs=image_input,
        output_names=['logits'],
    ),
    'bert': ModelSpec(
        build=lambda: randomize_normalization(BertEncoder()),
        make_inputs=bert_inputs,
        output_names=['last_hidden_state', 'pooler_output'],
        dynamic_axes={
            'input_ids': {0: 'batch', 1: 'sequence'},
            'attention_mask': {0: 'batch', 1: 'sequence'},
            'last_hidden_state': {0: 'batch', 1: 'sequence'},
            'pooler_output': {0: 'batch'},
        },
    ),
    'lstm': ModelSpec(
        build=LstmTagger,
        make_inputs=lambda: {'sequence': torch.randn(50, 1, 64)},
        output_names=['logits', 'last_hidden', 'last_cell'],
        dynamic_axes={'sequence': {0: 'sequence'}, 'logits': {0: 'sequence'}},
    ),
    'gpt': ModelSpec(
        build=lambda: randomize_normalization(GptDecoder()),
        make_inputs=lambda: {'input_ids': torch.randint(0, 50257, (1, 64))},
        output_names=['logits'],
        dynamic_axes={'input_ids': {0: 'batch', 1: 'sequence'}, 'logits': {0: 'batch', 1: 'sequence'}},
    ),
    'squeezenet1_1': ModelSpec(
        build=torchvision.models.squeezenet1_1,
        make_inputs=image_input,
        output_names=['logits'],
    ),
}


def expected_files(folder: Path, input_names: list[str], output_names: list[str]) -> list[Path]:
    return (
        [folder / 'model.onnx']
        + [folder / 'inputs' / f'{name}.npy' for name in input_names]
        + [folder / 'outputs' / f'{name}.npy' for name in output_names]
    )


def export(name: str, spec: ModelSpec, folder: Path) -> None:
    # Each model gets its own seeding, so its weights and inputs don't depend on which others ran.
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    model = spec.build().eval()
    inputs = spec.make_inputs()
    args = tuple(inputs.values())
    # Outputs are written last and removed first, so a folder holding them holds a complete export.
    shutil.rmtree(folder / 'outputs', ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        outputs = model(*args)
        torch.onnx.export(
            model,
            args,
            str(folder / 'model.onnx'),
            opset_version=OPSET,
            input_names=list(inputs),
            output_names=spec.output_names,
            dynamic_axes=spec.dynamic_axes,
        )
    if isinstance(outputs, torch.Tensor):
        outputs = (outputs,)
    check_graph_names(name, folder / 'model.onnx', list(inputs), spec.output_names)
    for group, tensors in (('inputs', inputs), ('outputs', dict(zip(spec.output_names, outputs)))):
        (folder / group).mkdir(exist_ok=True)
        for tensor_name, tensor in tensors.items():
            np.save(folder / group / f'{tensor_name}.npy', tensor.numpy())


def check_graph_names(name: str, path: Path, input_names: list[str], output_names: list[str]) -> None:
    graph = onnx.load(str(path)).graph
    graph_inputs = [i.name for i in graph.input]
    graph_outputs = [o.name for o in graph.output]
    if graph_inputs != input_names or graph_outputs != output_names:
        raise RuntimeError(f'{name}: exported graph has inputs {graph_inputs} and outputs {graph_outputs}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', type=Path)
    parser.add_argument('names', nargs='*', help=f'models to export (default: all of {", ".join(MODELS)})')
    parser.add_argument('--force', action='store_true', help='export even models already exported')
    args = parser.parse_intermixed_args()
    unknown = [n for n in args.names if n not in MODELS]
    if unknown:
        parser.error(f'unknown model(s) {", ".join(unknown)}; known: {", ".join(MODELS)}')
    for name in args.names or list(MODELS):
        spec = MODELS[name]
        folder = args.out_dir / name
        input_names = list(spec.make_inputs())
        if not args.force and all(p.exists() for p in expected_files(folder, input_names, spec.output_names)):
            print(f'{name}: cached in {folder}')
            continue
        export(name, spec, folder)
        print(f'{name}: exported to {folder}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
