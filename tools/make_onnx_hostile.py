#!/usr/bin/env python3
"""Writes the hostile ONNX files of data/onnx/ that the importer must refuse
(tests/test_onnx.c): resnet_mini.onnx with its first Relu given a second
input, once its own output (a cycle) and once the graph input.
Usage: make_onnx_hostile.py DATA_ONNX_DIR   (needs python3-onnx)"""
import os
import sys

import onnx


def main():
    d = sys.argv[1]
    for name, pick in (("relu_cycle", lambda n, g: n.output[0]),
                       ("relu_two_inputs", lambda n, g: g.input[0].name)):
        m = onnx.load(os.path.join(d, "resnet_mini.onnx"))
        relu = next(n for n in m.graph.node if n.op_type == "Relu")
        relu.input.append(pick(relu, m.graph))
        onnx.save(m, os.path.join(d, name + ".onnx"))


if __name__ == "__main__":
    main()
