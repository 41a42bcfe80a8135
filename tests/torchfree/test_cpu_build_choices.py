"""What the CPU build cannot do is greyed out or refused with one sentence, never a traceback."""

from __future__ import annotations

import pytest

from desktop.ml.builds import FullBuildRequired
from desktop.ml.options import TrainingOptions
from desktop.ml.train_job import cpu_only_check


@pytest.mark.parametrize(("options", "starts"), [
    (TrainingOptions(mode="finetune"), "Fine-tuning needs the full build"),
    (TrainingOptions(device="cuda"), "Training on a GPU needs the full build"),
    (TrainingOptions(pretrained=False), "Training from scratch"),
])
def test_training_the_cpu_build_cannot_do_is_one_sentence(cpu_build, options: TrainingOptions, starts: str):
    with pytest.raises(FullBuildRequired) as raised:
        cpu_only_check(options)
    assert str(raised.value).startswith(starts) and "pigeonhole-cpu" in str(raised.value)


def test_frozen_training_on_the_cpu_passes_the_check(cpu_build):
    cpu_only_check(TrainingOptions())
    cpu_only_check(TrainingOptions(mode="frozen", device="cpu"))


def test_the_train_tab_greys_out_fine_tuning_in_the_cpu_build(cpu_build, qtbot):
    from desktop.ui.training_panel import TrainPanel

    panel = TrainPanel()
    qtbot.addWidget(panel)
    item = panel.mode.model().item(panel.mode.findData("finetune"))
    assert not item.isEnabled()
    assert item.text() == "Fine-tune (full build only)" and "full build" in item.toolTip()
    assert panel.mode.model().item(panel.mode.findData("frozen")).isEnabled()


def test_the_train_tab_lists_the_torchvision_backbones_as_full_build_only(cpu_build, qtbot):
    from desktop.ui.training_panel import TrainPanel, list_backbone_choices

    panel = TrainPanel()
    qtbot.addWidget(panel)
    panel.set_backbones(list_backbone_choices())
    lite0 = panel.backbone.model().item(panel.backbone.findData("efficientnet_lite0"))
    resnet = panel.backbone.model().item(panel.backbone.findData("resnet18"))
    assert lite0.isEnabled() and "full build" not in lite0.text()
    assert not resnet.isEnabled() and resnet.text().endswith("— full build only")
    assert "needs the full build" in resnet.toolTip()
