Feature: Revocation
  A server that asks the authorization server about each token (introspection) stops serving a
  token as soon as it is revoked there. A server that validates JWTs locally cannot see a
  revocation before the token expires, so these scenarios apply to introspecting servers only.

  @req-43 @must @introspection @since-2025-03-26
  Scenario: A token revoked at the authorization server is refused on the next request
    Given the server has accepted a valid token
    When the authorization server revokes that token
    And the client sends an initialize request within the declared introspection cache lifetime
    Then the server rejects it with 401

  @req-43 @must @introspection @since-2025-03-26
  Scenario: A token the client revoked itself is refused on the next request
    Given the server has accepted a valid token
    When the client revokes that token at the authorization server's revocation endpoint
    And the client sends an initialize request within the declared introspection cache lifetime
    Then the server rejects it with 401

  @req-43 @must @introspection @stateful @since-2025-03-26
  Scenario: Signing the user out at the authorization server ends their MCP session too
    Given the client has opened a session with a token that is later revoked
    When the authorization server revokes all of the user's sessions
    And the client lists the tools within the declared introspection cache lifetime
    Then the server rejects it with 401
