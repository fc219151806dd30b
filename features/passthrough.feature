Feature: No token passthrough
  The server accepts only tokens issued for itself and never hands the client's token to anyone
  else: an upstream API gets a token of its own, and an OAuth proxy in front of a third-party
  authorization server asks the user before sending a new client upstream.

  @req-51 @must @since-2025-06-18
  Scenario: A token issued for a downstream API is refused
    Given a token issued for the downstream API the server calls
    When the client sends an initialize request
    Then the server rejects it with 401

  @req-51 @must @since-2025-06-18
  Scenario: A token issued for a downstream API is refused on an open session
    Given the client has opened a session with a valid token
    But a token issued for the downstream API the server calls
    When the client lists the tools
    Then the server rejects it with 401

  @req-52 @must @connection-user @since-2025-06-18
  Scenario: The upstream API never receives the client's MCP access token
    Given a valid token
    And the user has connected the upstream app of the user-connected tool
    When the client calls the user-connected tool while the upstream API is watched
    Then the upstream API was called with a token of its own, never the client's MCP token

  @req-53 @must @oauth-proxy @since-2025-06-18
  Scenario: An OAuth proxy asks the user before sending a new client upstream
    Given a client registered dynamically at the server's OAuth proxy
    When the user is sent to the proxy's authorization endpoint
    Then the proxy shows its own consent page instead of redirecting upstream
    And the consent page cannot be framed by another site
    And no state cookie is set before the user consents

  @req-53 @must @oauth-proxy @since-2025-06-18
  Scenario: An OAuth proxy only redirects to the exact registered redirect URI
    Given a client registered dynamically at the server's OAuth proxy
    When the user is sent to the proxy's authorization endpoint with an unregistered redirect URI
    Then the proxy refuses the request without redirecting anywhere
