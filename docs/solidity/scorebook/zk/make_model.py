"""A stand-in for your model: 4 features -> 1 score, exported to ONNX, with calibration data."""
import json

import torch

from prover import export_torch

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).eval()
export_torch(model, torch.randn(1, 4), "model.onnx")
samples = torch.rand(64, 4) * 2 - 1  # features in [-1, 1]
json.dump({"input_data": [samples.flatten().tolist()]}, open("calib.json", "w"))
