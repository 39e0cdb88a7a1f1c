import pytest

from reprogramming.errors import UnknownNameError
from reprogramming.methods import method_spec
from reprogramming.spec import AdversarialProgramSpec, ScratchSpec


def test_a_recorded_config_stands_for_its_method_spec() -> None:
    recorded = {"canvas_size": 32, "image_size": 16, "region": "border", "operation": "add",
                "label_mapping": "first_k"}  # fmt: skip
    assert method_spec("adversarial_program", recorded) == AdversarialProgramSpec(**recorded)
    assert method_spec("scratch", {"input_size": 64, "layers": "all"}) == ScratchSpec(input_size=64)
    # What a model was built with, even where a user could not ask for it.
    assert method_spec("linear_probe", {"input_size": 8}).input_size == 8
    with pytest.raises(UnknownNameError, match="linear_probe"):
        method_spec("dreaming", {})
