Feature: Discovery
  An MCP client that knows nothing but the server's URL must find out, from the server's first
  401 and its protected resource metadata, where to get a token and for what.

  @req-1 @must @since-2025-03-26
  Scenario: A request without credentials is refused
    Given no token
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-2 @must @since-2025-06-18
  Scenario: The refusal carries a Bearer challenge
    Given no token
    When the client sends an initialize request
    Then the server rejects it with 401 and a Bearer challenge

  @req-3 @must @since-2025-06-18
  Scenario: The challenge points to the protected resource metadata
    Given no token
    When the client sends an initialize request
    Then the challenge points to the protected resource metadata

  @req-4 @must @since-2025-06-18
  Scenario: The resource_metadata URL serves the metadata
    Given no token
    When the client sends an initialize request
    Then the resource_metadata URL serves the metadata as JSON

  @req-5 @must @since-2025-06-18
  Scenario: The metadata is at a well-known URL of the resource
    When the client fetches the protected resource metadata
    Then the metadata is served at a well-known URL of the resource

  @req-6 @must @since-2025-06-18
  Scenario: The metadata names the server itself
    When the client fetches the protected resource metadata
    Then the metadata names the server's canonical URL as its resource

  @req-7 @must @since-2025-06-18
  Scenario: The metadata names an authorization server
    When the client fetches the protected resource metadata
    Then the metadata lists at least one authorization server

  @req-8 @must @since-2025-06-18
  Scenario: The authorization server's metadata has exactly the advertised issuer
    When the client fetches the protected resource metadata
    Then each authorization server's metadata has exactly that issuer

  @req-9 @should @since-2025-11-25
  Scenario: The challenge says which scopes to ask for
    Given no token
    When the client sends an initialize request
    Then the challenge names the scopes to request

  @req-10 @should @since-2026-07-28
  Scenario: offline_access is not requested by the resource
    When the client fetches the protected resource metadata
    Then neither the metadata nor the challenge asks for offline_access

  @req-11 @should @since-2025-06-18
  Scenario: A challenge to a request without credentials has no error code
    Given no token
    When the client sends an initialize request
    Then the challenge has no error attribute

  @req-12 @must @until-2025-03-26
  Scenario: A 2025-03-26 server publishes authorization server metadata at its origin
    When the client fetches the authorization server metadata at the server's origin
    Then it is authorization server metadata, or the origin serves the default authorization endpoints
