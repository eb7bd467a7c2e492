"""The SCIM resources this service serves: the parts of RFC 7643's User it stores.

A service provider publishes the attributes it supports (RFC 7643 section 7). Ours are
exactly those the directory keeps, so that what a client writes is what it reads
back: the core User's userName, externalId, name (given and family), title, emails
(value and type; the directory keeps one address), preferredLanguage (the employee's
languages, comma-separated), timezone and active; the enterprise extension's
employeeNumber, department and manager; and an extension of ours for the job level
(promotions and eligibility depend on it) and the location. Other attributes an
identity provider sends are ignored.

The discovery documents (/Schemas, /ResourceTypes, /ServiceProviderConfig) are
derived from these models, so they cannot drift from what the endpoints accept.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, cast

from pydantic import Field
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    ETag,
    ExtensibleStringEnum,
    Extension,
    Filter,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)

MAX_RESULTS: Final = 1000
EMPLOYEE_EXTENSION: Final = "urn:mentorship:params:scim:schemas:extension:employee:2.0:User"


class Name(ComplexAttribute):
    family_name: str | None = None
    given_name: str | None = None


class Email(ComplexAttribute):
    class Type(ExtensibleStringEnum):
        work = "work"
        home = "home"
        other = "other"

    # Not EmailStr: the identity provider is the authority on its addresses.
    value: str | None = None
    type: Type | None = None


class Manager(ComplexAttribute):
    value: Annotated[str | None, CaseExact.true] = Field(
        default=None, description="The SCIM id (employee id) of the user's manager."
    )
    # Quoted: scim2-models reads the resource type name ("User") from the string.
    ref: Reference["User"] | None = Field(  # noqa: UP037 - see above
        default=None, serialization_alias="$ref", validation_alias="$ref"
    )


class EnterpriseUser(Extension):
    __schema__ = URN("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")

    employee_number: str | None = None
    department: str | None = None
    manager: Manager | None = None


class Employee(Extension):
    """Directory attributes RFC 7643 has no place for."""

    __schema__ = URN(EMPLOYEE_EXTENSION)

    job_level: Annotated[int | None, Field(ge=0, le=2**31 - 1)] = Field(
        default=None, description="The employee's job level; a rise is a promotion."
    )
    location: str | None = Field(default=None, description="Where the employee works.")


class User(Resource[Any]):
    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = Field(
        default=None,
        description="Login name; unique (case-insensitive). At creation it names the "
        "employee unless externalId does.",
    )
    name: Name | None = None
    title: str | None = None
    preferred_language: str | None = Field(
        default=None, description="The employee's languages, comma-separated."
    )
    timezone: str | None = None
    # Always known here: false is a departure, true an active employee.
    active: Annotated[bool | None, Required.true] = None
    emails: list[Email] | None = None


# The resource the endpoints read and write: the core User with both extensions.
DirectoryUser: Final[Any] = cast("Any", User)[EnterpriseUser | Employee]

PROVIDER: Final = ScimProvider(
    models=[User, EnterpriseUser, Employee],
    resource_types=[ResourceType.from_resource(DirectoryUser)],
    config=ServiceProviderConfig(
        documentation_uri="https://mentorship.example/docs/integrations/hris",
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="OAuth Bearer Token",
                description="A JWT with the hris (or admin) role in its roles claim.",
                primary=True,
            )
        ],
    ),
)
