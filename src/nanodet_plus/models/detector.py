"""The NanoDet-Plus detector: backbone, Ghost-PAN, head and the training-only AGM (§1, §6)."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from nanodet_plus.config.schema import ModelConfig
from nanodet_plus.losses.criterion import NanoDetPlusCriterion
from nanodet_plus.models.backbones.shufflenetv2 import ShuffleNetV2
from nanodet_plus.models.fuse import fuse_conv_bn
from nanodet_plus.models.heads.nanodet_plus_head import NanoDetPlusHead
from nanodet_plus.models.heads.simple_conv_head import SimpleConvHead
from nanodet_plus.models.necks.ghost_pan import GhostPAN

AUX_PREFIXES = ("aux_fpn.", "aux_head.")


def is_training_only_key(key: str) -> bool:
    """True for state-dict keys of the Assign Guidance Module (absent from deploy files)."""
    return key.startswith(AUX_PREFIXES)


def build_backbone(config: ModelConfig) -> ShuffleNetV2:
    """The ShuffleNetV2 named by ``config.backbone``."""
    cfg = config.backbone
    return ShuffleNetV2(cfg.model_size, cfg.out_stages, cfg.with_last_conv, cfg.activation)


def build_neck(config: ModelConfig) -> GhostPAN:
    """The Ghost-PAN named by ``config.neck``."""
    cfg = config.neck
    return GhostPAN(
        cfg.in_channels, cfg.out_channels, use_depthwise=cfg.use_depthwise,
        kernel_size=cfg.kernel_size, expand=cfg.expand, num_blocks=cfg.num_blocks,
        use_res=cfg.use_res, num_extra_level=cfg.num_extra_level,
        upsample_mode=cfg.upsample_mode, activation=cfg.activation,
    )


class NanoDetPlus(nn.Module):
    """NanoDet-Plus; ``model(images)`` gives raw ``[B, N, C + 4 * (reg_max + 1)]`` logits.

    Submodules (and state-dict prefixes): ``backbone``, ``fpn``, ``head`` and, when
    ``config.aux_head`` is set, ``aux_fpn`` (a deep copy of ``fpn``) and ``aux_head``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        head_cfg = config.head
        self.backbone = build_backbone(config)
        self.fpn = build_neck(config)
        self.head = NanoDetPlusHead(
            config.num_classes, head_cfg.input_channel, head_cfg.feat_channels,
            head_cfg.stacked_convs, head_cfg.kernel_size, head_cfg.strides,
            conv_type=head_cfg.conv_type, norm=head_cfg.norm, reg_max=head_cfg.reg_max,
            activation=head_cfg.activation,
        )
        self.aux_fpn: GhostPAN | None = None
        self.aux_head: SimpleConvHead | None = None
        aux_cfg = config.aux_head
        if aux_cfg is not None:
            if aux_cfg.own_fpn:
                self.aux_fpn = copy.deepcopy(self.fpn)
            self.aux_head = SimpleConvHead(
                config.num_classes, aux_cfg.input_channel, aux_cfg.feat_channels,
                aux_cfg.stacked_convs, head_cfg.strides, norm=aux_cfg.norm,
                num_groups=aux_cfg.num_groups, reg_max=head_cfg.reg_max,
                activation=aux_cfg.activation, conv_type=aux_cfg.conv_type,
            )
        self.detach_epoch = config.detach_epoch
        # The loss is no module (no parameters, no state dict); it lives beside the modules.
        self.criterion = NanoDetPlusCriterion(config)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def strides(self) -> tuple[int, ...]:
        return tuple(self.config.head.strides)

    @property
    def reg_max(self) -> int:
        return self.config.head.reg_max

    @property
    def has_aux(self) -> bool:
        """Whether the training-only Assign Guidance Module is built."""
        return self.aux_head is not None

    def forward(self, images: torch.Tensor, sigmoid_scores: bool = False) -> torch.Tensor:
        """Inference path (both modes): backbone -> fpn -> head, raw ``[B, N, C + 32]``.

        With ``sigmoid_scores`` the C class channels hold probabilities (official export layout).
        """
        return self.head(self.fpn(self.backbone(images)), sigmoid_scores=sigmoid_scores)

    def forward_train(
        self, images: torch.Tensor, epoch: int = 0, guide: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(head_out, aux_out or None)`` for training; ``guide=False`` skips the AGM.

        From ``detach_epoch`` on, the AGM branch sees detached backbone and fpn features, so its
        losses no longer reach the backbone and the main fpn. AGM input is [fpn, aux_fpn], or
        fpn alone without an ``aux_fpn``.
        """
        feats = self.backbone(images)
        fpn_feats = self.fpn(feats)
        head_out = self.head(fpn_feats)
        if self.aux_head is None or not guide:
            return head_out, None
        detach = epoch >= self.detach_epoch
        main_feats: Sequence[torch.Tensor] = [f.detach() for f in fpn_feats] if detach \
            else fpn_feats
        if self.aux_fpn is None:
            return head_out, self.aux_head(main_feats)
        aux_feats = self.aux_fpn([f.detach() for f in feats] if detach else feats)
        dual = [torch.cat([main, aux], dim=1) for main, aux in zip(main_feats, aux_feats)]
        return head_out, self.aux_head(dual)

    def training_losses(
        self,
        images: torch.Tensor,
        gt_boxes: list[torch.Tensor],
        gt_labels: list[torch.Tensor],
        epoch: int = 0,
        gt_ignore: list[torch.Tensor] | None = None,
        guide: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Forward in training mode and return the loss dict: ``loss`` is the total to
        back-propagate, ``num_pos`` the positives of the batch (for logging only).

        ``guide=False`` leaves the AGM out: the assigner reads the head's own predictions."""
        head_out, aux_out = self.forward_train(images, epoch, guide)
        return self.criterion(
            head_out,
            aux_out,
            input_hw=tuple(images.shape[-2:]),
            gt_boxes=gt_boxes,
            gt_labels=gt_labels,
            gt_ignore=gt_ignore,
            project=self.head.distribution_project.project,
        )

    def deploy_state_dict(self) -> dict[str, torch.Tensor]:
        """Inference-only weights: the state dict without ``aux_fpn.*`` / ``aux_head.*``."""
        return {k: v for k, v in self.state_dict().items() if not is_training_only_key(k)}

    def inference_model(
        self, sigmoid_scores: bool = False, fuse: bool = False, channels_last: bool = False
    ) -> InferenceModel:
        """An eval-mode copy of backbone/fpn/head (see :class:`InferenceModel` for the options)."""
        return InferenceModel(
            self, sigmoid_scores=sigmoid_scores, fuse=fuse, channels_last=channels_last
        )


class InferenceModel(nn.Module):
    """backbone -> fpn -> head only, for export and deployment; its state dict has deploy keys.

    ``sigmoid_scores=True`` gives the official export layout (sigmoid class channels, raw box
    logits). By default it holds an eval-mode deep copy of the weights (``share=True`` reuses the
    model's modules and leaves their mode alone); ``fuse=True`` also folds BatchNorm into convs.
    ``channels_last=True`` stores weights and runs activations in NHWC memory, which is faster for
    the depthwise convs and the max-pool on CPU; outputs are the same values.
    The fastest CPU eager setting is ``fuse=True, channels_last=True`` under
    ``torch.inference_mode()`` (see :func:`optimize_for_inference`).
    """

    def __init__(
        self,
        model: NanoDetPlus,
        sigmoid_scores: bool = False,
        fuse: bool = False,
        share: bool = False,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.config = model.config
        self.sigmoid_scores = sigmoid_scores
        self.channels_last = channels_last
        modules = nn.ModuleList([model.backbone, model.fpn, model.head])
        if fuse:
            modules = fuse_conv_bn(modules)
        elif not share:
            modules = copy.deepcopy(modules).eval()
        if channels_last:
            if share and not fuse:
                raise ValueError("channels_last needs a copy of the weights: use share=False")
            modules = modules.to(memory_format=torch.channels_last)
        self.backbone, self.fpn, self.head = modules[0], modules[1], modules[2]
        if share and not fuse:
            self.training = model.training
        else:
            self.eval()

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def strides(self) -> tuple[int, ...]:
        return tuple(self.config.head.strides)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` -> ``[B, N, C + 32]`` (class channels sigmoid if configured)."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.head(self.fpn(self.backbone(images)), sigmoid_scores=self.sigmoid_scores)


def optimize_for_inference(
    model: NanoDetPlus, sigmoid_scores: bool = False, channels_last: bool = True
) -> InferenceModel:
    """The fastest eager CPU inference module: BatchNorm folded, NHWC memory, eval mode.

    Call it under ``torch.inference_mode()``; outputs equal ``model.eval()(x)`` up to float
    rounding of the fold.
    """
    return model.inference_model(
        sigmoid_scores=sigmoid_scores, fuse=True, channels_last=channels_last
    )
