"""A tiny random Janus-Pro with its processor, built offline, loadable like a real checkpoint.

`build_tiny_janus(dir)` writes what `deepseek-community/Janus-Pro-1B` has on the Hub, at toy
size: config + safetensors weights (SigLIP-style vision tower and aligner for understanding,
a VQ-VAE with its generation embeddings, aligner and head for drawing, a Llama text model), a
byte-level BPE tokenizer with Janus' special tokens, the Janus image processor (mean/std 0.5,
so pixels are in [-1, 1] for the vision tower and the VQ encoder alike), the chat template of
the converted checkpoints and a generation config with `boi_token_id` and a guidance scale. Then

    AutoProcessor.from_pretrained(dir); JanusForConditionalGeneration.from_pretrained(dir)

load it through the same code path as the real model. Images are 32 px: 16 understanding tokens
(4 x 4 patches of 8 px) and 16 VQ tokens (three 2x downsamplings), so drawing one takes 16
decoding steps on a CPU instead of Janus-Pro's 576.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .tokenizer import Specials, build_tokenizer, name_image_processor_like_the_hub

# The chat template the converted Janus-Pro checkpoints ship (transformers' conversion script):
# "<|User|>: {text}\n\n<|Assistant|>:", an image as "<image_placeholder>", answers ended by EOS.
JANUS_CHAT_TEMPLATE = (
    "{%set seps=['\n\n','<\uff5cend\u2581of\u2581sentence\uff5c>']%}"
    "{%set i=0%}"
    "{%for message in messages%}"
    "{%if message['role']|lower=='user'%}"
    "<|User|>: "
    "{%elif message['role']|lower=='assistant'%}"
    "<|Assistant|>:{%if not (loop.last and not add_generation_prompt and message['content'][0]['type']=='text' "
    "and message['content'][0]['text']=='')%} {%endif%}"
    "{%else%}"
    "{{message['role'].capitalize()}}: "
    "{%endif%}"
    "{%for content in message['content']%}"
    "{%if content['type']=='image'%}"
    "{%if not loop.first%}{{'\n'}}{%endif%}"
    "<image_placeholder>"
    "{%if not loop.last%}{{'\n'}}{%endif%}"
    "{%elif content['type']=='text'%}"
    "{%set text=content['text']%}"
    "{%if loop.first%}{%set text=text.lstrip()%}{%endif%}"
    "{%if loop.last%}{%set text=text.rstrip()%}{%endif%}"
    "{%if not loop.first and message['content'][loop.index0-1]['type']=='text'%}"
    "{{' '+text}}"
    "{%else%}"
    "{{text}}"
    "{%endif%}"
    "{%endif%}"
    "{%endfor%}"
    "{%if not loop.last or add_generation_prompt%}"
    "{%if message['role']|lower=='user'%}"
    "{{seps[0]}}"
    "{%else%}"
    "{{seps[1]}}"
    "{%endif%}"
    "{%endif%}"
    "{%endfor%}"
    "{%if add_generation_prompt%}<|Assistant|>:{%endif%}"
)

JANUS_SPECIALS = Specials(
    bos="<\uff5cbegin\u2581of\u2581sentence\uff5c>", eos="<\uff5cend\u2581of\u2581sentence\uff5c>", unk="<unk>",
    pad="<\uff5c\u2581pad\u2581\uff5c>",
    named=(("image_token", "<image_placeholder>"), ("boi_token", "<begin_of_image>"), ("eoi_token", "<end_of_image>")))

JANUS_DEFAULTS: dict[str, Any] = {
    "image_size": 32, "patch_size": 8,  # 16 understanding tokens, and 16 VQ tokens (32 px / 2^3)
    "vision_hidden": 32, "vision_layers": 1, "vision_heads": 2,
    "text_hidden": 64, "text_layers": 2, "text_heads": 4, "text_kv_heads": 4,
    "vocab_size": 2000, "max_positions": 1024,
    "vq_channels": 32, "vq_codebook": 256, "vq_embed_dim": 8,  # GroupNorm(32) needs multiples of 32 channels
    # A stand-in that can be steered: at the usual 0.02 init, attention and the image head of a random
    # model barely depend on the prompt (near-uniform image-token distributions whatever the concept),
    # so nothing could be learned; a trained Janus' do. Wider language-model weights and an image head
    # whose logits spread by a few units (as a trained one's) give a concept something to move.
    "init_std": 0.2, "head_scale": 3.0,
}

_DRAWING_LINES = ("A photo of Bo.", "A photo of a dog.", "A photo of a cat.", "Bo and Kiwi on a sofa.",
                  "Draw Bo on a beach.", "<|User|>: A photo of Bo.\n\n<|Assistant|>:")


def build_janus_config(tokenizer: Any, sizes: dict[str, Any]) -> Any:
    from transformers import JanusConfig, JanusVisionConfig, JanusVQVAEConfig, LlamaConfig

    grid = sizes["image_size"] // sizes["patch_size"]
    downsamplings = (sizes["patch_size"] - 1).bit_length()  # the VQ grid equals the vision grid
    if 2 ** downsamplings != sizes["patch_size"]:
        raise ValueError("patch_size must be a power of two (the VQ-VAE halves the image per level)")
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=sizes["text_hidden"], intermediate_size=4 * sizes["text_hidden"],
        num_hidden_layers=sizes["text_layers"], num_attention_heads=sizes["text_heads"],
        num_key_value_heads=sizes["text_kv_heads"], max_position_embeddings=sizes["max_positions"],
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, initializer_range=sizes["init_std"])
    vision = JanusVisionConfig(
        hidden_size=sizes["vision_hidden"], num_hidden_layers=sizes["vision_layers"],
        num_attention_heads=sizes["vision_heads"], image_size=sizes["image_size"], patch_size=sizes["patch_size"],
        mlp_ratio=2.0, projection_dim=sizes["text_hidden"], depth=2, num_image_tokens=grid * grid)
    multipliers = tuple([1, 1, 2, 2, 4, 4, 8][: downsamplings + 1])
    vq = JanusVQVAEConfig(
        embed_dim=sizes["vq_embed_dim"], num_embeddings=sizes["vq_codebook"], latent_channels=sizes["vq_channels"],
        base_channels=sizes["vq_channels"], channel_multiplier=multipliers, num_res_blocks=1,
        projection_dim=sizes["text_hidden"], image_token_embed_dim=sizes["text_hidden"], num_hidden_layers=2)
    return JanusConfig(text_config=text, vision_config=vision, vq_config=vq,
                       image_token_id=tokenizer.convert_tokens_to_ids("<image_placeholder>"), tie_word_embeddings=False)


def build_janus_processor(tokenizer: Any, image_size: int, n_image_tokens: int) -> Any:
    from transformers import JanusProcessor
    from transformers.models.janus.image_processing_pil_janus import JanusImageProcessorPil

    image_processor = JanusImageProcessorPil(size={"height": image_size, "width": image_size},
                                             image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    return JanusProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=JANUS_CHAT_TEMPLATE,
                          use_default_system_prompt=True, num_image_tokens=n_image_tokens)


def build_tiny_janus(out_dir: Path, seed: int = 0, **overrides: Any) -> Path:
    """Write a tiny random Janus and its processor to `out_dir`; returns `out_dir`."""
    from transformers import JanusForConditionalGeneration

    extra_corpus = list(overrides.pop("corpus", ()))
    unknown = set(overrides) - set(JANUS_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown tiny-model sizes: {sorted(unknown)}; known: {sorted(JANUS_DEFAULTS)}")
    sizes = {**JANUS_DEFAULTS, **overrides}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(sizes["vocab_size"], [*_DRAWING_LINES, *extra_corpus], JANUS_SPECIALS)
    config = build_janus_config(tokenizer, sizes)
    model = JanusForConditionalGeneration(config).eval()
    head = model.model.generation_head  # see "head_scale" above
    with torch.no_grad():
        for layer, scale in ((head.proj_out, 1.0), (head.vision_head, sizes["head_scale"])):
            torch.nn.init.normal_(layer.weight, std=scale / layer.in_features ** 0.5)
    generation = model.generation_config  # as the conversion script sets it for the real checkpoints
    generation.temperature, generation.guidance_scale = 1.0, 5.0
    generation.pad_token_id, generation.bos_token_id = tokenizer.pad_token_id, tokenizer.bos_token_id
    generation.eos_token_id = tokenizer.eos_token_id
    generation.generation_kwargs = {"boi_token_id": tokenizer.convert_tokens_to_ids("<begin_of_image>")}
    model.save_pretrained(out_dir)

    processor = build_janus_processor(tokenizer, sizes["image_size"], config.vision_config.num_image_tokens)
    processor.save_pretrained(out_dir)
    name_image_processor_like_the_hub(out_dir)
    return out_dir
