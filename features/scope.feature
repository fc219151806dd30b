Feature: Scope
  A token opens only what its scopes cover. When it falls short, the server answers with a 403
  the client can act on: the scopes to ask for, all at once, and where the server describes
  itself. Once the authorization server grants them, the same call goes through; a token
  granted less keeps what it covers and is refused the rest.

  @req-30 @should @tool-scope @since-2025-11-25
  Scenario: A call the token's scopes do not cover is answered with 403
    Given a token with only the required scopes
    When the client calls the tool that needs an extra scope
    Then the server refuses it with 403

  @req-31 @should @tool-scope @since-2025-11-25
  Scenario: The refusal says the scope is insufficient
    Given a token with only the required scopes
    When the client calls the tool that needs an extra scope
    Then the challenge says error="insufficient_scope"

  @req-32 @should @tool-scope @since-2025-11-25
  Scenario: The refusal names every scope the call needs in one challenge
    Given a token with only the required scopes
    When the client calls the tool that needs an extra scope
    Then the challenge names every scope the tool needs

  @req-33 @should @tool-scope @since-2025-11-25
  Scenario: The refusal points to the protected resource metadata
    Given a token with only the required scopes
    When the client calls the tool that needs an extra scope
    Then the challenge points to the protected resource metadata

  @req-34 @should @tool-scope @since-2025-11-25
  Scenario: After step-up the call succeeds and what worked before still works
    Given a token with only the required scopes
    And the client has listed the tools with that token
    And the client has been refused the tool that needs an extra scope
    When the authorization server grants the token's scopes and the challenged ones
    And the client calls the tool that needs an extra scope
    Then the tool call succeeds
    And the client can still do what the first token allowed

  @req-35 @should @since-2025-11-25
  Scenario: A down-scoped token still lists the tools
    Given a token with only the required scopes
    When the client lists the tools
    Then the server accepts it

  @req-35 @should @since-2025-11-25
  Scenario: A down-scoped token still calls a tool that needs no extra scope
    Given a token with only the required scopes
    When the client calls a tool that needs no extra scope
    Then the call succeeds

  @req-36 @must @tool-scope @since-2025-11-25
  Scenario: A token granted less than the challenge asked for is refused again
    Given a token with only the required scopes
    And the client has been refused the tool that needs an extra scope
    When the authorization server grants all but one of the challenged scopes
    And the client calls the tool that needs an extra scope
    Then the tool does not run

  @req-37 @must @scope-hierarchy @since-2026-07-28
  Scenario: A broader scope satisfies a narrower requirement
    Given a token with a broader scope instead of the one the tool needs
    When the client calls the tool that needs an extra scope
    Then the tool call succeeds

  @req-38 @must @tool-scope @since-2025-06-18
  Scenario: A scope-protected tool called directly without its scope does not run
    Given a token with only the required scopes
    And the client has listed the tools with that token
    When the client calls the tool that needs an extra scope
    Then the tool does not run

  @req-38 @must @required-scope @since-2025-06-18
  Scenario: A token without the server-wide scope is not served
    Given a token without any scope of the server
    When the client sends an initialize request
    Then the server does not serve it

  @req-30 @should @required-scope @since-2025-11-25
  Scenario: A token without the server-wide scope is answered with 403 insufficient_scope
    Given a token without any scope of the server
    When the client sends an initialize request
    Then the server refuses the request with 403 insufficient_scope
