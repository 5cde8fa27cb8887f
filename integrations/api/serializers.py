from rest_framework import serializers


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False, style={"input_type": "password"})
    code = serializers.CharField(
        max_length=64, required=False, allow_blank=True,
        help_text="The code your authenticator app shows now, or an unused recovery code: required for "
                  "people who give a second factor when they sign in (finance, ops admins).",
    )


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()
