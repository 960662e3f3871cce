import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/** The guide's three audiences: page on-call, alert the security team, alert the application team. */
export type Audience = 'onCall' | 'security' | 'appTeam';

export interface AlertTopicsProps {
  /**
   * Who is told, per audience: e-mail addresses or https:// endpoints.
   * @default - no subscriptions; subscribe later in the console or with `aws sns subscribe`
   */
  readonly subscriptions?: Partial<Record<Audience, readonly string[]>>;
}

const TOPIC_NAMES: Record<Audience, string> = {
  onCall: 'page on-call (rotation failures, auth-failure spikes)',
  security: 'security team (keys past their age, revoked-key use)',
  appTeam: 'application team (old key still used after the grace period)',
};

/**
 * One KMS-encrypted, TLS-only SNS topic per audience, plus the rollback topic that carries alarms to the
 * rollback function. CloudWatch alarms and EventBridge rules of this account may publish; nothing else.
 */
export class AlertTopics extends Construct {
  readonly key: kms.Key;
  readonly onCall: sns.Topic;
  readonly security: sns.Topic;
  readonly appTeam: sns.Topic;
  /** Auth-failure alarms of `rollback_on_failure` keys publish here; the rollback function subscribes. */
  readonly rollback: sns.Topic;

  constructor(scope: Construct, id: string, props: AlertTopicsProps = {}) {
    super(scope, id);
    const account = Stack.of(this).account;
    this.key = new kms.Key(this, 'Key', {
      description: 'rekey: encrypts the alert and rollback SNS topics',
      enableKeyRotation: true,
    });
    // Alarms and rules publish to encrypted topics only if the key lets their service use it. The key
    // encrypts nothing but these topics, whose policies admit only this account's alarms and rules, so
    // the statement carries no condition: AWS documents none for these services' KMS calls.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AlarmsAndRulesPublishToEncryptedTopics',
        principals: [
          new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
          new iam.ServicePrincipal('events.amazonaws.com'),
        ],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'], // in a key policy, "*" means this key
      }),
    );
    const topic = (name: string, displayName: string) => {
      const t = new sns.Topic(this, name, { displayName, masterKey: this.key, enforceSSL: true });
      t.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AlarmsAndRulesOfThisAccountPublish',
          principals: [
            new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
            new iam.ServicePrincipal('events.amazonaws.com'),
          ],
          actions: ['sns:Publish'],
          resources: [t.topicArn],
          conditions: { StringEquals: { 'aws:SourceAccount': account } },
        }),
      );
      return t;
    };
    this.onCall = topic('OnCall', `rekey: ${TOPIC_NAMES.onCall}`);
    this.security = topic('Security', `rekey: ${TOPIC_NAMES.security}`);
    this.appTeam = topic('AppTeam', `rekey: ${TOPIC_NAMES.appTeam}`);
    this.rollback = topic('Rollback', 'rekey: alarms that roll a key back');

    for (const audience of Object.keys(TOPIC_NAMES) as Audience[]) {
      for (const endpoint of props.subscriptions?.[audience] ?? []) {
        this.topicFor(audience).addSubscription(subscriptionFor(endpoint));
      }
    }
  }

  topicFor(audience: Audience): sns.Topic {
    return this[audience];
  }

  /** Lets a function publish to one audience's topic: sns:Publish there, and the topic key through SNS only. */
  grantPublish(grantee: iam.IGrantable, audience: Audience): void {
    const topic = this.topicFor(audience);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `sns.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }
}

function subscriptionFor(endpoint: string): sns.ITopicSubscription {
  if (endpoint.startsWith('https://')) return new subscriptions.UrlSubscription(endpoint);
  if (/^[^@\s]+@[^@\s]+$/.test(endpoint)) return new subscriptions.EmailSubscription(endpoint);
  throw new Error(`\`subscriptions\` must hold e-mail addresses or https:// URLs, got "${endpoint}"`);
}
