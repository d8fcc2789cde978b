"""The app the array benchmark calls: a copy that sends the array back through storage."""

from arkitekt import register
from arkitekt.structures import Array


@register
def copy(image: Array) -> Array:
    """Downloads the array and uploads a new one with the same bytes."""
    return Array(image.numpy().copy())
