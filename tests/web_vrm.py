"""A minimal VRM 1.0 avatar made in code: one triangle with the five mouth expressions, a
blink and a smile as morph targets, and the humanoid bones VRM requires."""

from __future__ import annotations

import json
import struct

import numpy as np

BONES = [
    "hips", "spine", "chest", "neck", "head",
    "leftUpperLeg", "leftLowerLeg", "leftFoot", "rightUpperLeg", "rightLowerLeg", "rightFoot",
    "leftUpperArm", "leftLowerArm", "leftHand", "rightUpperArm", "rightLowerArm", "rightHand",
]  # fmt: skip
EXPRESSIONS = ["aa", "ih", "ou", "ee", "oh", "blink", "happy"]


def vrm_bytes() -> bytes:
    positions = np.array([[-0.1, 1.4, 0], [0.1, 1.4, 0], [0, 1.6, 0]], np.float32)
    indices = np.array([0, 1, 2, 0], np.uint16)  # padded to 4 bytes
    targets = [np.full((3, 3), 0.01 * (i + 1), np.float32) for i in range(len(EXPRESSIONS))]
    blobs = [positions.tobytes(), indices.tobytes(), *(t.tobytes() for t in targets)]
    views, accessors, offset = [], [], 0
    for i, blob in enumerate(blobs):
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(blob)})
        offset += len(blob)
        if i == 1:
            accessors.append({"bufferView": 1, "componentType": 5123, "count": 3, "type": "SCALAR"})
        else:
            data = positions if i == 0 else targets[i - 2]
            accessors.append(
                {
                    "bufferView": i,
                    "componentType": 5126,
                    "count": 3,
                    "type": "VEC3",
                    "min": data.min(0).tolist(),
                    "max": data.max(0).tolist(),
                }
            )
    mesh_node = len(BONES) + 1
    nodes = [{"name": "Root", "children": [1, mesh_node]}]
    for i, bone in enumerate(BONES):
        node = {"name": bone, "translation": [0, 0.1, 0]}
        if i + 1 < len(BONES):
            node["children"] = [i + 2]
        nodes.append(node)
    nodes.append({"name": "Face", "mesh": 0})
    binds = {
        name: {"morphTargetBinds": [{"node": mesh_node, "index": i, "weight": 1.0}]}
        for i, name in enumerate(EXPRESSIONS)
    }
    gltf = {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": nodes,
        "meshes": [
            {
                "primitives": [
                    {
                        "attributes": {"POSITION": 0},
                        "indices": 1,
                        "targets": [{"POSITION": i + 2} for i in range(len(EXPRESSIONS))],
                    }
                ],
                "extras": {"targetNames": EXPRESSIONS},
            }
        ],
        "buffers": [{"byteLength": offset}],
        "bufferViews": views,
        "accessors": accessors,
        "extensionsUsed": ["VRMC_vrm"],
        "extensions": {
            "VRMC_vrm": {
                "specVersion": "1.0",
                "meta": {
                    "name": "Test",
                    "authors": ["ZenGlow tests"],
                    "licenseUrl": "https://vrm.dev/licenses/1.0/",
                },
                "humanoid": {"humanBones": {b: {"node": i + 1} for i, b in enumerate(BONES)}},
                "expressions": {"preset": binds},
            }
        },
    }
    text = json.dumps(gltf).encode()
    text += b" " * (-len(text) % 4)
    binary = b"".join(blobs)
    binary += b"\0" * (-len(binary) % 4)
    chunks = struct.pack("<I4s", len(text), b"JSON") + text
    chunks += struct.pack("<I4s", len(binary), b"BIN\0") + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks
