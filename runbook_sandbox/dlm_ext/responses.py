"""The DLM API (rest-json): moto picks the operation from the method and path with
botocore's model, parses the parameters with it, and serializes answers and errors with it."""

from __future__ import annotations

from moto.core.responses import ActionResult, BaseResponse, EmptyResult

from .models import DLMBackend, dlm_backends


class DLMResponse(BaseResponse):
    def __init__(self) -> None:
        super().__init__(service_name="dlm")
        self.automated_parameter_parsing = True

    @property
    def backend(self) -> DLMBackend:
        return dlm_backends[self.current_account][self.region]

    def create_lifecycle_policy(self) -> ActionResult:
        policy = self.backend.create_lifecycle_policy(dict(self.params))
        return ActionResult({"PolicyId": policy.id})

    def get_lifecycle_policies(self) -> ActionResult:
        found = self.backend.get_lifecycle_policies(
            policy_ids=self._get_param("PolicyIds"),
            state=self._get_param("State"),
            resource_types=self._get_param("ResourceTypes"),
            target_tags=self._get_param("TargetTags"),
            tags_to_add=self._get_param("TagsToAdd"),
            default_policy_type=self._get_param("DefaultPolicyType"),
        )
        return ActionResult({"Policies": [p.summary() for p in found]})

    def get_lifecycle_policy(self) -> ActionResult:
        policy = self.backend.get_lifecycle_policy(self._get_param("PolicyId"))
        return ActionResult({"Policy": policy.describe()})

    def update_lifecycle_policy(self) -> ActionResult:
        self.backend.update_lifecycle_policy(self._get_param("PolicyId"), dict(self.params))
        return EmptyResult()

    def delete_lifecycle_policy(self) -> ActionResult:
        self.backend.delete_lifecycle_policy(self._get_param("PolicyId"))
        return EmptyResult()

    def tag_resource(self) -> ActionResult:
        self.backend.tag_resource(self._get_param("ResourceArn"), self._get_param("Tags"))
        return EmptyResult()

    def untag_resource(self) -> ActionResult:
        self.backend.untag_resource(self._get_param("ResourceArn"), self._get_param("TagKeys"))
        return EmptyResult()

    def list_tags_for_resource(self) -> ActionResult:
        tags = self.backend.list_tags_for_resource(self._get_param("ResourceArn"))
        return ActionResult({"Tags": tags})
