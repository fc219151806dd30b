Feature: Audience
  A token is only good at the server it was issued for. The server checks that the token's
  audience names it, so a token meant for another server (or for none in particular) opens
  nothing here, and a token that names it but was not signed by its authorization server
  opens nothing either.

  @req-24 @must @since-2025-06-18
  Scenario: A token issued for another MCP server is refused
    Given a token whose audience is another MCP server
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-25 @must @since-2025-06-18
  Scenario: A token without an audience is refused
    Given a token without an audience
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-26 @must @since-2025-06-18
  Scenario: A token for another MCP server on the same origin is refused
    Given a token whose audience is another MCP server on the same origin
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-27 @may @since-2025-06-18
  Scenario: A token whose audience lists this server among others is accepted
    Given a token whose audience lists another MCP server and this one
    When the client sends an initialize request
    Then the server accepts it

  @req-28 @should @since-2025-06-18
  Scenario: An audience spelled with an uppercase scheme and host is accepted
    Given a token whose audience is this server's URL with an uppercase scheme and host
    When the client sends an initialize request
    Then the server accepts it

  @req-28 @should @since-2025-06-18
  Scenario: An audience that differs only by a trailing slash is accepted
    Given a token whose audience is this server's URL with a trailing slash
    When the client sends an initialize request
    Then the server accepts it

  @req-29 @must @since-2025-06-18
  Scenario: A token for this server signed by a key its authorization server never published is refused
    Given a token for this server signed by a key its authorization server does not publish
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-29 @must @since-2025-06-18
  Scenario: A token for this server from another authorization server is refused
    Given a token for this server issued and signed by another authorization server
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-24 @must @since-2025-06-18
  Scenario: A genuine token of a sibling MCP server in the same project is refused
    Given a token issued for a sibling MCP server in the same project
    When the client sends an initialize request
    Then the server rejects it with 401
