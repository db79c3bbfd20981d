"""The QA review loop: reviewers confirm or reject what audioqa found and mark what it missed
(:mod:`.reviews`, the web app in :mod:`.app`); their reviews measure audioqa on the site's own calls
(:mod:`.accuracy`) and fit its detector thresholds to them (:mod:`.calibrate`)."""

from .reviews import Review, all_reviews, call_reviews, delete_review, save_review

__all__ = ["Review", "all_reviews", "call_reviews", "delete_review", "save_review"]
