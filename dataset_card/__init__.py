"""The dataset card: a Jinja template rendered through ``huggingface_hub.DatasetCard``."""

from builder.dataset.card.render import TEMPLATE, card_data, render_card_text

__all__ = ["TEMPLATE", "card_data", "render_card_text"]
