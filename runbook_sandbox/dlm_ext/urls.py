"""DLM's endpoint and paths (botocore's ``dlm`` model), in the shape moto reads a service's
``urls`` module."""

from .responses import DLMResponse

url_bases = [r"https?://dlm\.(.+)\.amazonaws\.com"]

url_paths = {
    "{0}/policies/?$": DLMResponse.dispatch,
    "{0}/policies/(?P<policyId>[^/]+)/?$": DLMResponse.dispatch,
    "{0}/tags/(?P<resourceArn>.+)$": DLMResponse.dispatch,
}
