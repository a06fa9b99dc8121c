"""Test doubles shared by the telemetry tests."""

from __future__ import annotations

from transformers.loss.loss_utils import ForCausalLMLoss


class FakeCausalLM:
    """The model side of transformers' loss hook: a property returning ForCausalLMLoss unless an
    instance value is set (the model's forward calls ``self.loss_function``)."""

    training = True

    @property
    def loss_function(self):
        return self.__dict__.get("_loss_function", ForCausalLMLoss)

    @loss_function.setter
    def loss_function(self, value):
        self._loss_function = value
