"""Malformed JSON inputs that are not models, for make_malformed_corpus.py: quantization configs
and batch manifests (`qrepair batch MANIFEST --out-dir DIR`).

Manifest cases carry "requires": "batch": a runner skips them while the binary has no batch
subcommand. Their expected messages are only the offending key or value, since the batch command's
wording is its own; what must hold for them is the same as for every case: exit code 3 and the
manifest's name in the message.
"""

import json

from corpus_models import CONFIG, DATA, MODEL, mutate, DELETE, dump


def config_cases(c):
    def add(name, obj_or_bytes, problem, expect, command="eval"):
        data = obj_or_bytes if isinstance(obj_or_bytes, bytes) else dump(obj_or_bytes)
        path = "config/" + name
        argv = {"eval": ["eval", MODEL, "--config", path, "--data", DATA],
                "quantize": ["quantize", MODEL, "--config", path, "--data", DATA,
                             "-o", "out/never.json"],
                "repair": ["repair", MODEL, "--config", path, "--data", DATA,
                           "--repair-range", "0:8", "--time-limit", "5", "-o", "out/never.json"],
                "rank": ["rank", MODEL, "--config", path, "--data", DATA]}[command]
        c.add(path, data, "config", problem, expect, argv=argv)

    good = {"weights": {"bits": 4, "granularity": "per-tensor", "scale": "max-abs"},
            "activations": {"bits": 8}, "layers": {"fc1": {"bits": 8}}}
    text = dump(good)
    add("empty.json", b"", "empty file", "invalid JSON")
    add("truncated.json", text[:20], "cut after 20 bytes", "invalid JSON")
    add("trailing_garbage.json", text + b"}", "a '}' after the object", "invalid JSON")
    add("yaml.json", b"weights:\n  bits: 4\n", "YAML instead of JSON", "invalid JSON",
        command="quantize")
    add("binary.json", bytes(range(256)), "256 bytes of binary", "invalid JSON")
    add("array.json", b"[" + text + b"]", "the config inside an array", "expected a JSON object")
    add("string.json", b'"4-bit"', "a JSON string", "expected a JSON object")
    add("missing_weights.json", mutate(good, ["weights"], DELETE), "no weights",
        "missing key \"weights\"")
    add("unknown_top_key.json", mutate(good, ["roundng"], "half-up"), "unknown key roundng",
        "$.roundng: unknown key")
    add("bad_rounding.json", mutate(good, ["rounding"], "nearest"), "unknown rounding mode",
        "$.rounding: expected \"half-even\"")
    add("bad_logits.json", mutate(good, ["logits"], {"bits": 32}), "logits past 16 bits",
        "$.logits.bits: bit width 32 out of range")
    add("bad_symmetric.json", mutate(good, ["activations", "symmetric"], "no"),
        "symmetric not a boolean", "$.activations.symmetric: expected true or false")
    add("unknown_weights_key.json", mutate(good, ["weights", "bitz"], 4), "typo bitz",
        "$.weights.bitz: unknown key")
    add("weights_array.json", mutate(good, ["weights"], [4]), "weights as an array",
        "$.weights: expected an object")
    for bits in (0, 1, 17, 64, -4):
        add("weight_bits_%d.json" % bits, mutate(good, ["weights", "bits"], bits),
            "weight bits %d" % bits, "bit width %d out of range 2..16" % bits,
            command="repair" if bits == 1 else "eval")
    add("weight_bits_fraction.json", mutate(good, ["weights", "bits"], 4.5), "weight bits 4.5",
        "$.weights.bits: expected an integer bit width")
    add("weight_bits_string.json", mutate(good, ["weights", "bits"], "4"), "weight bits \"4\"",
        "$.weights.bits: expected an integer bit width", command="rank")
    add("weight_bits_bool.json", mutate(good, ["weights", "bits"], True), "weight bits true",
        "expected an integer bit width")
    add("weight_bits_2e40.json", mutate(good, ["weights", "bits"], 2 ** 40), "weight bits 2^40",
        "out of range 2..16")
    add("weight_bits_u64.json", text.replace(b'"bits": 4', b'"bits": 18446744073709551615'),
        "weight bits 2^64-1 (an unsigned JSON number)", "out of range 2..16")
    add("weight_bits_overflow.json", text.replace(b'"bits": 4', b'"bits": 1e999'),
        "weight bits 1e999", "1e999")
    add("granularity.json", mutate(good, ["weights", "granularity"], "per-row"),
        "granularity per-row", "$.weights.granularity: expected \"per-tensor\" or \"per-channel\"")
    add("granularity_number.json", mutate(good, ["weights", "granularity"], 1),
        "granularity 1", "expected \"per-tensor\" or \"per-channel\"")
    add("scale_rule.json", mutate(good, ["weights", "scale"], "log"), "scale log",
        "$.weights.scale: expected \"max-abs\", \"power-of-two\" or \"mse\"")
    add("top_scale_rule.json", mutate(good, ["scale"], "pow2"), "top-level scale pow2",
        "expected \"max-abs\", \"power-of-two\" or \"mse\"")
    add("activation_bits_1.json", mutate(good, ["activations", "bits"], 1),
        "activation bits 1", "$.activations.bits: bit width 1 out of range 2..16")
    add("activation_bits_33.json", mutate(good, ["activations", "bits"], 33),
        "activation bits 33", "bit width 33 out of range", command="quantize")
    add("activations_int8.json", mutate(good, ["activations"], "int8"), "activations \"int8\"",
        "$.activations: expected {\"bits\": N} or \"float\"")
    add("activations_no_bits.json", mutate(good, ["activations"], {}), "activations {}",
        "$.activations: missing key \"bits\"")
    add("activations_unknown_key.json", mutate(good, ["activations", "zero_point"], 3),
        "activations.zero_point", "$.activations.zero_point: unknown key")
    add("activations_signed_symmetric.json", mutate(good, ["activations", "signed"], True),
        "activations.signed with symmetric codes",
        "$.activations.signed: applies to asymmetric codes only")
    add("layers_array.json", mutate(good, ["layers"], [{"bits": 8}]), "layers as an array",
        "$.layers: expected an object keyed by layer name")
    add("layer_bits_0.json", mutate(good, ["layers", "fc1", "bits"], 0), "fc1 bits 0",
        "$.layers.fc1.bits: bit width 0 out of range")
    add("layer_unknown_key.json", mutate(good, ["layers", "fc1", "activation_bits"], 8),
        "fc1.activation_bits", "$.layers.fc1.activation_bits: unknown key")
    add("layer_not_object.json", mutate(good, ["layers", "fc1"], 8), "fc1: 8",
        "$.layers.fc1: expected an object")
    add("deep_nesting.json", b'{"layers": {"fc1": ' + b"[" * 100000 + b"]" * 100000 + b"}}",
        "an array nested 100000 deep", "config/deep_nesting.json")
    add("utf16.json", text.decode().encode("utf-16"), "UTF-16 with a byte-order mark",
        "invalid JSON")


MANIFEST_DIR = "manifest/"


def manifest_cases(c):
    rel = "../"  # manifests sit one folder below the companions; paths resolve against them
    good = {"defaults": {"config": rel + CONFIG, "data": rel + DATA, "repair_range": "0:8",
                         "time_limit": 5, "max_rounds": 1},
            "jobs": [{"name": "a", "model": rel + MODEL}]}
    c.companion(MANIFEST_DIR + "good.json", dump(good), "manifest",
                "one job on the companions, valid",
                control=["batch", MANIFEST_DIR + "good.json", "--out-dir", "out/batch-good"],
                requires="batch")

    def add(name, obj_or_bytes, problem, expect):
        data = obj_or_bytes if isinstance(obj_or_bytes, bytes) else dump(obj_or_bytes)
        path = MANIFEST_DIR + name
        c.add(path, data, "manifest", problem, expect,
              argv=["batch", path, "--out-dir", "out/batch-" + name.replace(".json", "")],
              requires="batch")

    text = dump(good)
    add("empty.json", b"", "empty file", "")
    add("truncated.json", text[: len(text) // 2], "cut in half", "")
    add("not_json.json", b"jobs = [a, b]\n", "not JSON", "")
    add("array.json", dump([good]), "the manifest inside an array", "")
    add("unknown_top_key.json", mutate(good, ["workers"], 4), "unknown key workers", "workers")
    add("unknown_default_key.json", mutate(good, ["defaults", "colour"], "red"),
        "unknown option colour in defaults", "colour")
    add("unknown_job_key.json", mutate(good, ["jobs", 0, "modle"], "x.onnx"),
        "typo modle in a job", "modle")
    add("dashed_option.json", mutate(good, ["defaults", "time-limit"], 5),
        "option spelled with '-' instead of '_'", "time-limit")
    add("jobs_missing.json", mutate(good, ["jobs"], DELETE), "no jobs", "jobs")
    add("jobs_object.json", mutate(good, ["jobs"], {"a": {"model": "x"}}), "jobs as an object",
        "jobs")
    add("job_not_object.json", mutate(good, ["jobs", 0], "a.onnx"), "a job as a string", "")
    add("defaults_array.json", mutate(good, ["defaults"], [1, 2]), "defaults as an array",
        "defaults")
    add("time_limit_string.json", mutate(good, ["defaults", "time_limit"], "ten"),
        "time_limit \"ten\"", "time_limit")
    add("number_overflow.json", text.replace(b'"time_limit": 5', b'"time_limit": 1e999'),
        "time_limit 1e999", "")
    add("model_number.json", mutate(good, ["jobs", 0, "model"], 7), "model 7", "model")
    dup = mutate(good, ["jobs"], [{"name": "a", "model": rel + MODEL},
                                  {"name": "a", "model": rel + MODEL}])
    add("duplicate_names.json", dup, "two jobs named a", "'a'")
