"""`tl-suite backbones`: the registry as a table."""


def test_backbones_lists_the_registry(cli):
    code, out, err = cli("backbones")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["name", "kind", "offline", "description"]
    names = [line.split()[0] for line in lines[1:] if line and not line.startswith("Text")]
    assert "efficientnet_lite0" in names and "minilm_l6" in names
    assert "tiny_efficientnet_lite" not in names
    assert "local keras-hub / Hugging Face BERT folder" in out


def test_backbones_of_one_kind_with_test_ones(cli):
    code, out, err = cli("backbones", "--kind", "image", "--all")
    assert code == 0, err
    names = [line.split()[0] for line in out.splitlines()[1:] if line]
    assert "tiny_efficientnet_lite" in names and "minilm_l6" not in names
