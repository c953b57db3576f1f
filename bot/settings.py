"""Every setting Yo reads, from the environment or a `.env` file (see .env.example)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # The model: a Hugging Face id or a local folder, loaded with from_pretrained. Janus-Pro both
    # understands and draws, so a fresh install can do everything Yo offers (README: Drawing).
    yo_model: str = "deepseek-community/Janus-Pro-7B"
    yo_data_dir: Path = Path("data")
    # "cuda", "cuda:1", "cpu"; empty picks the GPU when there is one.
    yo_device: str = ""
    yo_negatives_dir: Path | None = None
    # Load the model in 4-bit (needs bitsandbytes and a GPU).
    yo_load_in_4bit: bool = False

    telegram_bot_token: str = ""
    telegram_api_url: str = "https://api.telegram.org/bot"
    yo_webhook_url: str = ""
    yo_webhook_secret: str = ""
    yo_webhook_listen: str = "0.0.0.0"
    yo_webhook_port: int = 8443

    discord_bot_token: str = ""
    discord_api_url: str = ""
    discord_gateway_url: str = ""
    discord_message_content: bool = Field(default=False, description="use the privileged message-content intent")

    # Scale-out: the Ray head's address ("127.0.0.1:6379" on the bot host that runs `ray start --head`).
    # Set: model workers are the `yo worker` actors in that cluster. Empty: one local worker process.
    yo_ray_address: str = ""
    # How long the bot waits at start for a first `yo worker` to answer (it keeps looking after).
    yo_ray_wait_seconds: float = 30.0

    # Teaching limits.
    yo_min_photos: int = 3
    yo_max_photos: int = 10
    yo_max_concepts_per_user: int = 50
    yo_max_queued_jobs_per_user: int = 3
    # New photos or corrections of a trained concept that queue a (shorter, warm-started) refresh.
    yo_refresh_after: int = 5
    # Training epochs per concept; None: the recipe's (up to 15, best epoch kept).
    yo_train_epochs: int | None = None

    # Who may use Yo (bot/assistant/access.py): comma-separated telegram:12345, telegram:@alice,
    # discord:123456789, discord:@alice, discord:role:Friends. Empty: everyone.
    yo_allowed_users: str = ""
    # The same syntax. Admins are always let in, use /status /pause /resume /block /unblock, and have no limits.
    yo_admins: str = ""

    # Per-user limits (bot/assistant/limits.py); 0: no limit. Admins are exempt.
    yo_questions_per_minute: int = Field(default=20, ge=0)
    yo_drawings_per_hour: int = Field(default=10, ge=0)
    yo_trainings_per_day: int = Field(default=10, ge=0)

    # `yo run`'s /healthz and /metrics (bot/operations.py) on this address; port 0: off.
    yo_metrics_host: str = "127.0.0.1"
    yo_metrics_port: int = Field(default=9464, ge=0, le=65535)

    @field_validator("yo_allowed_users", "yo_admins")
    @classmethod
    def _people(cls, value: str, info: ValidationInfo) -> str:
        """A mistyped entry stops Yo at start, rather than silently shutting someone out."""
        from .assistant.access import parse_people  # here: the assistant package imports these settings

        parse_people(value, str(info.field_name).upper())
        return value


def load_settings() -> Settings:
    return Settings()
