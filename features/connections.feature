Feature: Connections
  A connection-backed tool exchanges the caller's MCP access token for the user's (or the
  tenant's) third-party connection token at the authorization server on every call, sends only
  that connection token to the third-party API, and turns a refused connection into a tool error
  the user can act on: connect (again), or sign in again.

  @req-C1 @must @since-2025-06-18 @connection-user
  Scenario: An allowed connection works and the third-party API sees the connection token
    Given the user has connected the tool's app and the policy allows it
    And a valid token
    When the client calls the connection-backed tool
    Then the connection-backed tool succeeds
    And the third-party API saw the connection token, not the MCP token

  @req-C2 @must @since-2025-06-18 @connection-user
  Scenario: A connection the policy denies asks the user to re-consent instead of failing the server
    Given the user has connected the tool's app but the policy does not allow it
    And a valid token
    When the client calls the connection-backed tool
    Then the connection-backed tool fails with a re-consent signal
    And the third-party API was not called

  @req-C3 @must @since-2025-06-18 @connection-user
  Scenario: A policy change applies to the very next call, both ways
    Given the user has connected the tool's app but the policy does not allow it
    And a valid token
    When the client calls the connection-backed tool
    Then the connection-backed tool does not succeed
    When the policy starts allowing the connection
    And the client calls the connection-backed tool
    Then the connection-backed tool succeeds
    When the policy stops allowing the connection
    And the client calls the connection-backed tool
    Then the connection-backed tool does not succeed

  @req-C4 @must @since-2025-06-18 @connection-user
  Scenario: A revoked connection fails on the next call
    Given the user has connected the tool's app and the policy allows it
    And a valid token
    And the client has called the connection-backed tool successfully
    When the user's connection is revoked at the authorization server
    And the client calls the connection-backed tool
    Then the connection-backed tool does not succeed

  @req-C5 @must @since-2025-06-18 @connection-user
  Scenario: Re-consenting through the connect URL makes the next call succeed
    Given the user has connected the tool's app and the policy allows it
    And a valid token
    And the user's connection is revoked at the authorization server
    When the client calls the connection-backed tool
    Then the connection-backed tool does not succeed
    When the user re-consents through the connect URL
    And the client calls the connection-backed tool
    Then the connection-backed tool succeeds

  @req-C6 @must @since-2025-06-18 @connection-user
  Scenario: Connection-backed tools stop working once the user's MCP session is revoked at the authorization server
    Given the user has connected the tool's app and the policy allows it
    And a valid token
    And the client has called the connection-backed tool successfully
    When the user's MCP sessions are revoked at the authorization server
    And the client calls the connection-backed tool
    Then the connection-backed tool does not succeed
    And the third-party API was not called

  @req-C7 @must @since-2025-06-18 @connection-tenant
  Scenario: A tenant member gets the tenant's connection
    Given the user belongs to a tenant that has connected the tenant tool's app
    And the policy allows the user that tenant connection
    And a valid token
    When the client calls the tenant's connection-backed tool for that tenant
    Then the connection-backed tool succeeds
    And the third-party API saw the connection token, not the MCP token

  @req-C7 @must @since-2025-06-18 @connection-tenant
  Scenario: A user outside the tenant does not get the tenant's connection
    Given the user does not belong to a tenant that has connected the tenant tool's app
    And the policy allows the user that tenant connection
    And a valid token
    When the client calls the tenant's connection-backed tool for that tenant
    Then the connection-backed tool does not succeed

  @req-C8 @must @since-2025-06-18 @connection-user
  Scenario: A token without outbound.token.fetch does not get the connection
    Given the user has connected the tool's app and the policy allows it
    And a valid token that lacks outbound.token.fetch
    When the client calls the connection-backed tool
    Then the connection-backed tool does not succeed
    And the third-party API was not called

  @req-C9 @must @since-2025-06-18 @connection-user
  Scenario: A rate-limited connection fetch fails the tool cleanly, without the MCP token going upstream
    Given the user has connected the tool's app and the policy allows it
    And a valid token
    And the authorization server rate-limits the user's connection fetches, asking to retry after 30 seconds
    When the client calls the connection-backed tool
    Then the connection-backed tool fails cleanly
    And the third-party API did not see the MCP token

  @req-C10 @should @since-2025-06-18 @connection-user
  Scenario: A rate-limited connection fetch tells the user when to retry
    Given the user has connected the tool's app and the policy allows it
    And a valid token
    And the authorization server rate-limits the user's connection fetches, asking to retry after 30 seconds
    When the client calls the connection-backed tool
    Then the tool error says when to retry
